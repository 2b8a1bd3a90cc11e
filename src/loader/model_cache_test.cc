// PullModel against a LocalObjectStore standing in for the bucket: fresh pulls, reuse, damaged
// cache files, bad bucket content, interrupted and concurrent pulls, plain diffusers folders.
#include "loader/model_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/hash.h"
#include "loader/cache_state.h"
#include "loader/resolve_model.h"
#include "storage/local_object_store.h"
#include "weights/manifest.h"

namespace sdxl::loader {
namespace {

namespace fs = std::filesystem;

core::Environment Env(const std::map<std::string, std::string>& vars) {
  return core::Environment(vars);
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// Relative paths of every regular file under `dir`, sorted.
std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().lexically_relative(dir).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Leftovers of transfers: temp files and unverified downloads.
std::vector<std::string> Leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& f : FilesUnder(dir)) {
    if (f.find(".sdxl-tmp-") != std::string::npos || f.find("sdxl-unverified") != std::string::npos)
      out.push_back(f);
  }
  return out;
}

// A small "pipeline": model_index.json, configs and two multi-range weight files.
const std::map<std::string, std::string>& ModelFiles() {
  static const auto* files = new std::map<std::string, std::string>{
      {"model_index.json", R"({"_class_name": "StableDiffusionXLPipeline"})"},
      {"scheduler/scheduler_config.json", R"({"timestep_spacing": "trailing"})"},
      {"unet/config.json", "{}"},
      {"unet/diffusion_pytorch_model.bin", RandomBytes(700 * 1024 + 3, 1)},
      {"vae/diffusion_pytorch_model.bin", RandomBytes(300 * 1024, 2)},
      {"tokenizer/empty.txt", ""},
  };
  return *files;
}

class PullModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("sdxl-loader-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    bucket_ = root_ / "bucket";
    cache_ = root_ / "cache";
    fs::create_directories(bucket_);
    store_ = std::make_unique<storage::LocalObjectStore>(bucket_);
    options_.cache_root = cache_;
    options_.transfer.range_size = 128 * 1024;  // several ranges per weight file
    options_.transfer.concurrency = 4;
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path ModelDir() const { return bucket_ / "org" / "model"; }
  fs::path CacheDir() const { return cache_ / "bucket" / "org" / "model"; }

  // Uploads the model (and, when asked, its manifest, built from the files like prepare does).
  void Upload(bool with_manifest, const std::map<std::string, std::string>& files = ModelFiles()) {
    for (const auto& [rel, data] : files) Write(ModelDir() / rel, data);
    if (with_manifest) WriteManifest();
  }
  void WriteManifest() {
    auto entries = weights::BuildFileEntries(ModelDir(), 64 * 1024);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    weights::Manifest m;
    m.source_repo = "org/model";
    m.files = std::move(*entries);
    ASSERT_TRUE(
        weights::WriteManifestFile(m, ModelDir() / std::string(weights::kManifestFileName)).ok());
  }

  core::Result<PulledModel> Pull() { return PullModel(*store_, ref_, options_); }

  void ExpectCacheMatchesModel() {
    for (const auto& [rel, data] : ModelFiles()) {
      EXPECT_EQ(Read(CacheDir() / rel), data) << rel;
    }
    EXPECT_TRUE(fs::exists(CacheDir() / kCompleteMarkerName));
    EXPECT_FALSE(IsIncompleteCacheDir(CacheDir()));
    EXPECT_EQ(Leftovers(cache_), std::vector<std::string>{});
  }

  fs::path root_, bucket_, cache_;
  std::unique_ptr<storage::LocalObjectStore> store_;
  ModelRef ref_{"bucket", "org/model"};
  PullOptions options_;
};

TEST_F(PullModelTest, FreshPullWithManifestThenEverythingReused) {
  Upload(/*with_manifest=*/true);
  std::atomic<std::uint64_t> total{0}, progressed{0};
  options_.transfer.on_total = [&](std::uint64_t t) { total = t; };
  options_.transfer.on_progress = [&](std::uint64_t n) { progressed += n; };
  auto first = Pull();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->dir, CacheDir());
  EXPECT_TRUE(first->had_manifest);
  EXPECT_EQ(first->stats.files_downloaded, 6);
  EXPECT_EQ(first->stats.files_reused, 0);
  std::uint64_t model_bytes = 0;
  for (const auto& [rel, data] : ModelFiles()) model_bytes += data.size();
  EXPECT_EQ(first->stats.bytes_downloaded, model_bytes);
  EXPECT_EQ(total.load(), model_bytes);
  EXPECT_EQ(progressed.load(), model_bytes);
  EXPECT_GT(first->timings.total_s, 0);
  EXPECT_GE(first->timings.total_s, first->timings.transfer_s);
  ExpectCacheMatchesModel();
  EXPECT_EQ(Read(CacheDir() / std::string(weights::kManifestFileName)),
            Read(ModelDir() / std::string(weights::kManifestFileName)));

  std::map<std::string, FileStamp> before;
  for (const auto& [rel, data] : ModelFiles()) before[rel] = **StampOf(CacheDir() / rel);
  progressed = 0;
  auto second = Pull();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->stats.files_downloaded, 0);
  EXPECT_EQ(second->stats.bytes_downloaded, 0u);
  EXPECT_EQ(second->stats.files_reused, 6);
  EXPECT_EQ(second->stats.bytes_reused, model_bytes);
  EXPECT_EQ(progressed.load(), 0u);
  for (const auto& [rel, data] : ModelFiles()) {
    EXPECT_EQ(**StampOf(CacheDir() / rel), before[rel]) << rel << " was rewritten";
  }
  ExpectCacheMatchesModel();
}

TEST_F(PullModelTest, ComponentsAreAnnouncedAndReadyInLoadOrderWithTheUnetLast) {
  Upload(/*with_manifest=*/true);
  options_.transfer.concurrency = 1;  // one worker: files complete in download order
  std::mutex mu;
  std::vector<std::string> planned, ready;
  std::set<std::string> files_present_when_ready_ok;
  options_.on_components_planned = [&](const std::vector<std::string>& c) { planned = c; };
  options_.on_component_ready = [&](const std::string& c) {
    std::lock_guard lock(mu);
    ready.push_back(c);
    // Every file of the component is under its final name when it is announced.
    bool all = true;
    for (const auto& [rel, data] : ModelFiles()) {
      const auto slash = rel.find('/');
      const std::string comp = slash == std::string::npos ? "" : rel.substr(0, slash);
      if (comp == c && Read(CacheDir() / rel) != data) all = false;
    }
    if (all) files_present_when_ready_ok.insert(c);
  };
  auto first = Pull();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(planned, (std::vector<std::string>{"", "scheduler", "tokenizer", "unet", "vae"}));
  EXPECT_EQ(ready, (std::vector<std::string>{"", "scheduler", "tokenizer", "vae", "unet"}));
  EXPECT_EQ(files_present_when_ready_ok.size(), 5u);
  // A warm cache: everything is ready at once.
  ready.clear();
  ASSERT_TRUE(Pull().ok());
  EXPECT_EQ(ready.size(), 0u);  // nothing to do: the caller marks all ready when PullModel returns
}

TEST_F(PullModelTest, TruncatedAndCorruptedCacheFilesAreFetchedAgain) {
  Upload(true);
  ASSERT_TRUE(Pull().ok());
  // Truncated: the size gives it away.
  fs::resize_file(CacheDir() / "unet/diffusion_pytorch_model.bin", 1000);
  // Same size, different bytes: only the hash can tell (the stamp says it was touched).
  {
    std::fstream f(CacheDir() / "vae/diffusion_pytorch_model.bin",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1234);
    f.write("XXXX", 4);
  }
  auto again = Pull();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->stats.files_downloaded, 2);
  EXPECT_EQ(again->stats.files_reused, 4);
  ExpectCacheMatchesModel();
}

TEST_F(PullModelTest, FilesFoundWithoutRecordsAreHashedAndReused) {
  Upload(true);
  ASSERT_TRUE(Pull().ok());
  // A cache copied from elsewhere (no state file) or a damaged state file: every file is
  // re-hashed against the manifest, nothing is downloaded.
  Write(CacheDir() / kCacheStateFileName, "{not json");
  auto again = Pull();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->stats.files_downloaded, 0);
  EXPECT_EQ(again->stats.files_reused, 6);
  auto state = ParseCacheState(Read(CacheDir() / kCacheStateFileName));
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->files.size(), 6u);
  EXPECT_EQ(state->files.at("unet/config.json").sha256, core::Sha256Hex(std::string("{}")));
}

TEST_F(PullModelTest, WithoutVerificationFilesAreReusedByEtagAndCheckedLater) {
  Upload(true);
  std::string bad = ModelFiles().at("vae/diffusion_pytorch_model.bin");
  bad[7] ^= 0x11;
  Write(ModelDir() / "vae/diffusion_pytorch_model.bin", bad);  // corrupt in the bucket
  options_.verify_hashes = false;
  auto first = Pull();
  ASSERT_TRUE(first.ok()) << first.status().ToString();  // not checked: accepted
  EXPECT_EQ(Read(CacheDir() / "vae/diffusion_pytorch_model.bin"), bad);
  auto second = Pull();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->stats.files_reused, 6);
  // A verifying pull does not trust what the unverified one recorded: it re-hashes, finds the
  // damaged file, fetches it again and refuses the bucket's copy.
  options_.verify_hashes = true;
  auto checked = Pull();
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.status().code(), core::Code::kDataLoss);
  EXPECT_FALSE(fs::exists(CacheDir() / "vae/diffusion_pytorch_model.bin"));
  EXPECT_TRUE(IsIncompleteCacheDir(CacheDir()));
}

TEST_F(PullModelTest, BucketObjectNotMatchingTheManifestIsAnErrorAndNothingIsKept) {
  Upload(true);
  // The bucket copy changes after the manifest was written (same size: the hash must catch it).
  std::string bad = ModelFiles().at("unet/diffusion_pytorch_model.bin");
  bad[100] ^= 0x55;
  Write(ModelDir() / "unet/diffusion_pytorch_model.bin", bad);
  auto r = Pull();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kDataLoss);
  EXPECT_NE(r.status().message().find("unet/diffusion_pytorch_model.bin"), std::string::npos);
  EXPECT_NE(r.status().message().find("corrupt in the bucket or changed during download; rerun"),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(CacheDir() / "unet/diffusion_pytorch_model.bin"));
  EXPECT_FALSE(fs::exists(CacheDir() / kCompleteMarkerName));
  EXPECT_TRUE(IsIncompleteCacheDir(CacheDir()));
  EXPECT_EQ(Leftovers(cache_), std::vector<std::string>{});
  // The incomplete folder is never handed out as a local model.
  auto resolved = ResolveModel(CacheDir().string(), core::Environment(), options_);
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.status().code(), core::Code::kFailedPrecondition);

  // A size that disagrees with the manifest is caught before any download.
  Write(ModelDir() / "vae/diffusion_pytorch_model.bin", "short");
  auto sized = Pull();
  ASSERT_FALSE(sized.ok());
  EXPECT_NE(sized.status().message().find("but the manifest says"), std::string::npos)
      << sized.status().message();
}

TEST_F(PullModelTest, ManifestFileMissingFromTheBucketIsAnError) {
  Upload(true);
  fs::remove(ModelDir() / "vae/diffusion_pytorch_model.bin");
  auto r = Pull();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is in the manifest but not in the bucket"),
            std::string::npos)
      << r.status().message();
}

TEST_F(PullModelTest, MissingModelIndexBucketOrPathAreClearErrors) {
  auto files = ModelFiles();
  files.erase("model_index.json");
  Upload(false, files);
  auto r = Pull();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kNotFound);
  EXPECT_NE(r.status().message().find("s3://bucket/org/model holds no model_index.json"),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(CacheDir() / kCompleteMarkerName));

  // Pointing one level too high gets a hint.
  Write(ModelDir() / "model_index.json", "{}");
  auto high = PullModel(*store_, ModelRef{"bucket", "org"}, options_);
  ASSERT_FALSE(high.ok());
  EXPECT_NE(high.status().message().find("did you mean s3://bucket/org/model?"), std::string::npos)
      << high.status().message();

  auto empty = PullModel(*store_, ModelRef{"bucket", "nothing/here"}, options_);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), core::Code::kNotFound);
  EXPECT_NE(empty.status().message().find("nothing under s3://bucket/nothing/here/"),
            std::string::npos)
      << empty.status().message();

  storage::LocalObjectStore missing(root_ / "no-such-bucket");
  auto nobucket = PullModel(missing, ref_, options_);
  ASSERT_FALSE(nobucket.ok());
  EXPECT_EQ(nobucket.status().code(), core::Code::kNotFound);

  PullOptions no_cache = options_;
  no_cache.cache_root.clear();
  EXPECT_EQ(PullModel(*store_, ref_, no_cache).status().code(), core::Code::kInvalidArgument);
  // None of these left anything in the cache (not even a lock file).
  EXPECT_FALSE(fs::exists(cache_));
}

TEST_F(PullModelTest, InterruptedUploadByPrepareIsReported) {
  Upload(false);
  Write(ModelDir() / ".sdxl-tigris-upload.json", "{}");
  auto r = Pull();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("rerun prepare-model"), std::string::npos);
}

TEST_F(PullModelTest, PlainDiffusersFolderUsesSizesAndEtags) {
  Upload(/*with_manifest=*/false);
  auto first = Pull();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->had_manifest);
  EXPECT_EQ(first->stats.files_downloaded, 6);
  ExpectCacheMatchesModel();

  auto second = Pull();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->stats.files_downloaded, 0);
  EXPECT_EQ(second->stats.files_reused, 6);

  // A new version of one object (new ETag, same size) is fetched again.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Write(ModelDir() / "unet/config.json", "[]");
  // A cache file that was written to (same size) is not trusted either.
  {
    std::fstream f(CacheDir() / "vae/diffusion_pytorch_model.bin",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.write("Z", 1);
  }
  auto third = Pull();
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->stats.files_downloaded, 2);
  EXPECT_EQ(Read(CacheDir() / "unet/config.json"), "[]");
  EXPECT_EQ(Read(CacheDir() / "vae/diffusion_pytorch_model.bin"),
            ModelFiles().at("vae/diffusion_pytorch_model.bin"));
}

TEST_F(PullModelTest, NewManifestRefreshesStaleFilesAndDropsRemovedOnes) {
  Upload(true);
  ASSERT_TRUE(Pull().ok());
  // A new version of the model: one file changed, one removed, one added.
  fs::remove_all(ModelDir());
  auto files = ModelFiles();
  files["unet/diffusion_pytorch_model.bin"] = RandomBytes(500 * 1024, 9);
  files.erase("vae/diffusion_pytorch_model.bin");
  files["text_encoder/model.bin"] = RandomBytes(1000, 10);
  Upload(true, files);
  auto r = Pull();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stats.files_downloaded, 2);
  EXPECT_EQ(r->stats.files_reused, 4);
  for (const auto& [rel, data] : files) EXPECT_EQ(Read(CacheDir() / rel), data) << rel;
  EXPECT_FALSE(fs::exists(CacheDir() / "vae/diffusion_pytorch_model.bin"));
  EXPECT_EQ(Read(CacheDir() / std::string(weights::kManifestFileName)),
            Read(ModelDir() / std::string(weights::kManifestFileName)));

  // The bucket drops the manifest (re-uploaded by the seed's script): the copy goes too.
  fs::remove(ModelDir() / std::string(weights::kManifestFileName));
  auto plain = Pull();
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->had_manifest);
  EXPECT_FALSE(fs::exists(CacheDir() / std::string(weights::kManifestFileName)));
}

TEST_F(PullModelTest, CancelledPullIsNotReadyAndTheRerunCompletesIt) {
  Upload(true);
  std::atomic<bool> cancel{false};
  options_.transfer.cancel = &cancel;
  options_.transfer.concurrency = 1;
  options_.transfer.range_size = 64 * 1024;
  std::atomic<std::uint64_t> seen{0};
  options_.transfer.on_progress = [&](std::uint64_t n) {
    if ((seen += n) > 400 * 1024) cancel = true;
  };
  auto r = Pull();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kCancelled);
  EXPECT_FALSE(fs::exists(CacheDir() / kCompleteMarkerName));
  EXPECT_EQ(Leftovers(cache_), std::vector<std::string>{});
  // Whatever has a final name is whole and verified.
  for (const auto& f : FilesUnder(CacheDir())) {
    if (ModelFiles().count(f)) {
      EXPECT_EQ(Read(CacheDir() / f), ModelFiles().at(f)) << f;
    }
  }
  cancel = false;
  options_.transfer.on_progress = nullptr;
  auto rerun = Pull();
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  EXPECT_GT(rerun->stats.files_reused, 0);
  EXPECT_EQ(rerun->stats.files_reused + rerun->stats.files_downloaded, 6);
  ExpectCacheMatchesModel();
}

TEST_F(PullModelTest, ConcurrentPullsDownloadOnce) {
  Upload(true);
  core::Result<PulledModel> a = core::Internal("not run"), b = core::Internal("not run");
  std::thread ta([&] { a = Pull(); });
  std::thread tb([&] { b = Pull(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->stats.files_downloaded + b->stats.files_downloaded, 6);
  EXPECT_EQ(a->stats.files_reused + b->stats.files_reused, 6);
  ExpectCacheMatchesModel();
}

TEST_F(PullModelTest, ModelAtTheBucketRoot) {
  for (const auto& [rel, data] : ModelFiles()) Write(bucket_ / rel, data);
  auto r = PullModel(*store_, ModelRef{"bucket", ""}, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dir, cache_ / "bucket");
  EXPECT_EQ(Read(cache_ / "bucket" / "unet/config.json"), "{}");
  EXPECT_TRUE(fs::exists(cache_ / "bucket.lock"));
}

TEST(ResolveModel, LocalFoldersAndEnvironment) {
  const fs::path dir = fs::temp_directory_path() / ("sdxl-resolve-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  PullOptions options;
  auto missing = ResolveModel((dir / "nope").string(), core::Environment(), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), core::Code::kNotFound);

  fs::create_directories(dir);
  auto no_index = ResolveModel(dir.string(), core::Environment(), options);
  ASSERT_FALSE(no_index.ok());
  EXPECT_NE(no_index.status().message().find("model_index.json"), std::string::npos);

  Write(dir / "model_index.json", "{}");
  auto ok = ResolveModel(dir.string(), core::Environment(), options);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->dir, dir);
  EXPECT_FALSE(ok->had_manifest);
  EXPECT_EQ(ok->stats.files_downloaded, 0);

  auto no_env = ResolveModel("", core::Environment(), options);
  ASSERT_FALSE(no_env.ok());
  EXPECT_EQ(no_env.status().code(), core::Code::kNotFound);
  EXPECT_NE(no_env.status().message().find("MODEL_BUCKET_NAME"), std::string::npos);

  auto bad_url = ResolveModel("s3://", core::Environment(), options);
  EXPECT_EQ(bad_url.status().code(), core::Code::kInvalidArgument);

  // s3:// without credentials: the S3 configuration's own message.
  auto no_creds = ResolveModel("s3://b/m", Env({{"HOME", dir.string()}}), options);
  ASSERT_FALSE(no_creds.ok());
  EXPECT_EQ(no_creds.status().code(), core::Code::kUnauthenticated);
  EXPECT_NE(no_creds.status().message().find("pulling s3://b/m"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sdxl::loader
