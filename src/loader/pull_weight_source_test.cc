// PullWeightSource: driven by hand (missed bytes read back, cancel), and fed by a real PullModel
// from a LocalObjectStore (every byte delivered once while downloading, warm cache from disk, a
// corrupt chunk stops the stream, headers by ranged reads when there is no manifest).
#include "loader/pull_weight_source.h"

#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "core/testing/small_disk.h"
#include "loader/cache_state.h"
#include "storage/local_object_store.h"
#include "weights/manifest.h"

namespace sdxl::loader {
namespace {

namespace fs = std::filesystem;

// A safetensors file with one F32 tensor "w" of `floats` random values.
std::string Safetensors(std::size_t floats, unsigned seed) {
  std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(floats) +
                       R"(],"data_offsets":[0,)" + std::to_string(floats * 4) + "]}}";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out += header;
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < floats * 4; ++i) out += static_cast<char>(rng());
  return out;
}

void Write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// Collects what a sink receives: the bytes, and how often each byte came.
struct Collector {
  explicit Collector(std::size_t size) : bytes(size, '\0'), times(size) {}
  std::mutex mu;
  std::string bytes;
  std::vector<int> times;
  weights::WeightSink Sink() {
    return [this](std::uint64_t offset, std::span<const std::byte> data) -> core::Status {
      std::lock_guard<std::mutex> lock(mu);
      if (offset + data.size() > bytes.size()) return core::Internal("past the end");
      std::memcpy(bytes.data() + offset, data.data(), data.size());
      for (std::size_t i = 0; i < data.size(); ++i) ++times[offset + i];
      return core::Status::Ok();
    };
  }
  // "" when every byte from `from` on came exactly once and equals `want`, else what is wrong
  // (for checks in a child process, where gtest assertions do not reach the parent).
  std::string Check(const std::string& want, std::size_t from) {
    if (bytes.size() != want.size()) return "size " + std::to_string(bytes.size());
    for (std::size_t i = from; i < want.size(); ++i) {
      if (times[i] != 1) return "byte " + std::to_string(i) + " came " + std::to_string(times[i]);
    }
    return bytes.substr(from) == want.substr(from) ? "" : "bytes differ";
  }
  // Every byte from `from` on came exactly once and equals `want`.
  void Expect(const std::string& want, std::size_t from) {
    ASSERT_EQ(bytes.size(), want.size());
    for (std::size_t i = from; i < want.size(); ++i) {
      ASSERT_EQ(times[i], 1) << "byte " << i;
    }
    EXPECT_EQ(bytes.substr(from), want.substr(from));
  }
};

std::uint64_t DataOffset(const std::string& file) {
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  return 8 + n;
}

TEST(PullWeightSourceTest, BytesBeforeTheStreamAreReadBackFromTheFinishedFile) {
  const fs::path dir = fs::temp_directory_path() / ("sdxl-pws-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string file = Safetensors(50000, 7);
  const std::string rel = "unet/diffusion_pytorch_model.safetensors";
  auto header = weights::ParseSafetensorsHeader(std::as_bytes(std::span(file)), file.size());
  ASSERT_TRUE(header.ok());
  PullWeightSource source;
  source.OnPlanned(
      dir, {{"unet/config.json", 2, false, std::nullopt}, {rel, file.size(), false, *header}},
      nullptr);
  const auto piece = [&](std::size_t a, std::size_t b) {
    return source.OnData(rel, a, std::as_bytes(std::span(file).subspan(a, b - a)));
  };
  // The first half arrives before anyone asked for the file.
  ASSERT_TRUE(piece(0, 30000).ok());
  ASSERT_TRUE(piece(30000, 100000).ok());

  std::atomic<bool> component_ready{false};
  std::thread waiter([&] {
    EXPECT_TRUE(source.WaitForComponent("unet").ok());
    component_ready = true;
  });
  Collector got(file.size());
  core::Status streamed;
  std::thread streamer([&] { streamed = source.Stream(dir / rel, got.Sink()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(component_ready.load());  // unet/config.json is not in yet
  Write(dir / "unet/config.json", "{}");
  source.OnFileReady("unet/config.json");
  // The rest arrives while the engine streams; then the file is complete on disk.
  ASSERT_TRUE(piece(100000, file.size()).ok());
  Write(dir / rel, file);
  source.OnFileReady(rel);
  streamer.join();
  waiter.join();
  ASSERT_TRUE(streamed.ok()) << streamed.ToString();
  EXPECT_TRUE(component_ready.load());
  got.Expect(file, header->data_offset());
  EXPECT_EQ(source.bytes_streamed(), file.size() - 100000);
  EXPECT_GE(source.bytes_from_disk(), 100000 - header->data_offset());
  fs::remove_all(dir);
}

TEST(PullWeightSourceTest, CancelAndFailedPullReleaseEveryWaiter) {
  PullWeightSource source;
  core::Status waited;
  std::thread t([&] { waited = source.WaitForComponent("vae"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  source.Cancel(core::InvalidArgument("the unet failed"));
  t.join();
  EXPECT_EQ(waited.code(), core::Code::kInvalidArgument);

  PullWeightSource failed;
  failed.OnPlanned("/nonexistent", {{"vae/w.safetensors", 100, false, std::nullopt}}, nullptr);
  core::Status streamed;
  std::thread s([&] {
    Collector c(100);
    streamed = failed.Stream("/nonexistent/vae/w.safetensors", c.Sink());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  failed.Finish(core::DataLoss("connection reset"));
  s.join();
  EXPECT_EQ(streamed.code(), core::Code::kDataLoss);
}

TEST(PullWeightSourceTest, BytesOfAFileTheDiskCouldNotCacheAreReadAgainFromTheBucket) {
  const fs::path dir = "/nonexistent-model";  // nothing is read from disk here
  const std::string a = Safetensors(40000, 3), b = Safetensors(30000, 4);
  const std::string rel_a = "unet/a.safetensors", rel_b = "vae/b.safetensors";
  auto ha = weights::ParseSafetensorsHeader(std::as_bytes(std::span(a)), a.size());
  auto hb = weights::ParseSafetensorsHeader(std::as_bytes(std::span(b)), b.size());
  ASSERT_TRUE(ha.ok() && hb.ok());
  std::mutex mu;
  std::uint64_t reread_bytes = 0;
  std::atomic<bool> ending{false}, reread_while_ending{false};
  const RereadRange reread = [&](const std::string& rel, std::uint64_t offset,
                                 std::span<char> out) -> core::Status {
    const std::string& file = rel == rel_a ? a : b;
    if (offset + out.size() > file.size()) return core::Internal("past the end");
    std::memcpy(out.data(), file.data() + offset, out.size());
    std::lock_guard<std::mutex> lock(mu);
    reread_bytes += out.size();
    if (ending.load()) reread_while_ending = true;
    return core::Status::Ok();
  };
  PullWeightSource source;
  source.OnPlanned(dir, {{rel_a, a.size(), false, *ha}, {rel_b, b.size(), false, *hb}}, reread);
  // a: the first 100000 bytes arrive before the engine asks for it, the rest while it streams;
  // then the pull says it could not cache the file.
  ASSERT_TRUE(source.OnData(rel_a, 0, std::as_bytes(std::span(a).subspan(0, 100000))).ok());
  Collector got_a(a.size());
  core::Status streamed_a;
  std::thread ta([&] { streamed_a = source.Stream(dir / rel_a, got_a.Sink()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(source.OnData(rel_a, 100000, std::as_bytes(std::span(a).subspan(100000))).ok());
  source.OnFileNotCached(rel_a);
  ta.join();
  ASSERT_TRUE(streamed_a.ok()) << streamed_a.ToString();
  got_a.Expect(a, ha->data_offset());
  EXPECT_EQ(source.bytes_streamed(), a.size() - 100000);
  EXPECT_EQ(source.bytes_fetched_on_demand(), 100000u);
  EXPECT_EQ(source.bytes_from_disk(), 0u);

  // b: every byte arrives before the engine asks; the pull ends meanwhile and must wait until
  // b was streamed (only it can read b again), then the reread function is dropped.
  ASSERT_TRUE(source.OnData(rel_b, 0, std::as_bytes(std::span(b))).ok());
  source.OnFileNotCached(rel_b);
  std::atomic<bool> pull_ended{false};
  std::thread ender([&] {
    ending = true;
    source.OnPullEnding(core::Status::Ok());
    pull_ended = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pull_ended.load());  // b is still needed
  Collector got_b(b.size());
  ASSERT_TRUE(source.Stream(dir / rel_b, got_b.Sink()).ok());
  ender.join();
  EXPECT_TRUE(pull_ended.load());
  EXPECT_TRUE(reread_while_ending.load());
  got_b.Expect(b, hb->data_offset());
  EXPECT_EQ(source.bytes_fetched_on_demand(), 100000u + b.size());
  EXPECT_EQ(reread_bytes, 100000u + b.size());

  // c: the pull never downloads it (the disk is too small, known up front); Stream reads all of
  // its data from the bucket, in parallel pieces.
  const std::string c = Safetensors(5'000'000, 5);  // 20 MB: three 8 MiB pieces
  auto hc = weights::ParseSafetensorsHeader(std::as_bytes(std::span(c)), c.size());
  ASSERT_TRUE(hc.ok());
  const std::string rel_c = "text_encoder/c.safetensors";
  const RereadRange reread_c = [&](const std::string& rel, std::uint64_t offset,
                                   std::span<char> out) -> core::Status {
    if (rel != rel_c || offset + out.size() > c.size()) return core::Internal("bad reread");
    std::memcpy(out.data(), c.data() + offset, out.size());
    return core::Status::Ok();
  };
  PullWeightSource deferred;
  deferred.OnPlanned(dir, {{rel_c, c.size(), false, *hc}}, reread_c);
  deferred.OnFileNotDownloaded(rel_c);
  Collector got_c(c.size());
  ASSERT_TRUE(deferred.Stream(dir / rel_c, got_c.Sink()).ok());
  got_c.Expect(c, hc->data_offset());
  EXPECT_EQ(deferred.bytes_fetched_on_demand(), c.size() - hc->data_offset());
  EXPECT_EQ(deferred.bytes_streamed(), 0u);
  deferred.OnPullEnding(core::Status::Ok());  // c was served: no wait

  // After the pull ended nothing can be read again: a clear error, not a hang.
  PullWeightSource late;
  late.OnPlanned(dir, {{rel_b, b.size(), false, *hb}}, reread);
  ASSERT_TRUE(late.OnData(rel_b, 0, std::as_bytes(std::span(b))).ok());
  late.OnFileNotCached(rel_b);
  late.EngineFinished();                  // the engine said it needs nothing more...
  late.OnPullEnding(core::Status::Ok());  // ...so the pull does not wait
  Collector got_late(b.size());
  const core::Status st = late.Stream(dir / rel_b, got_late.Sink());
  EXPECT_EQ(st.code(), core::Code::kInternal);
  EXPECT_NE(st.message().find("the pull ended before"), std::string::npos) << st.ToString();
}

// A LocalObjectStore whose weight-file reads wait a little first, so that the engine side has
// asked for its files before their bytes come (as on a real network) and the test sees bytes
// handed over straight from the download.
class SlowWeightsStore final : public storage::ObjectStore {
 public:
  explicit SlowWeightsStore(const fs::path& root) : inner_(root) {}
  // Optional: called as each read starts (e.g. to fill the disk at a chosen moment).
  std::function<void(std::string_view key, std::uint64_t offset)> on_get;
  std::string Describe() const override { return inner_.Describe(); }
  std::string DescribeKey(std::string_view key) const override { return inner_.DescribeKey(key); }
  core::Result<storage::ObjectInfo> Head(std::string_view key) override { return inner_.Head(key); }
  core::Status GetRange(std::string_view key, std::uint64_t offset,
                        std::optional<std::uint64_t> length, const storage::ChunkSink& sink,
                        const storage::ReadOptions& options) override {
    if (on_get) on_get(key, offset);
    if (key.ends_with(".safetensors") && offset > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    return inner_.GetRange(key, offset, length, sink, options);
  }
  core::Result<std::string> Put(std::string_view key, std::string_view data,
                                std::string_view content_type) override {
    return inner_.Put(key, data, content_type);
  }
  core::Result<std::string> CreateMultipartUpload(std::string_view key) override {
    return inner_.CreateMultipartUpload(key);
  }
  core::Result<std::string> UploadPart(std::string_view key, std::string_view id, int n,
                                       std::string_view data) override {
    return inner_.UploadPart(key, id, n, data);
  }
  core::Result<std::string> CompleteMultipartUpload(
      std::string_view key, std::string_view id,
      std::span<const storage::PartInfo> parts) override {
    return inner_.CompleteMultipartUpload(key, id, parts);
  }
  core::Status AbortMultipartUpload(std::string_view key, std::string_view id) override {
    return inner_.AbortMultipartUpload(key, id);
  }
  core::Result<std::vector<storage::PartInfo>> ListParts(std::string_view key,
                                                         std::string_view id) override {
    return inner_.ListParts(key, id);
  }
  core::Result<std::vector<storage::UploadInfo>> ListMultipartUploads(
      std::string_view prefix) override {
    return inner_.ListMultipartUploads(prefix);
  }
  core::Result<std::vector<storage::ObjectInfo>> List(std::string_view prefix) override {
    return inner_.List(prefix);
  }
  core::Status Delete(std::string_view key) override { return inner_.Delete(key); }
  core::Status CreateBucket() override { return inner_.CreateBucket(); }
  core::Result<std::string> Presign(std::string_view key, storage::PresignMethod method,
                                    std::chrono::seconds expires) override {
    return inner_.Presign(key, method, expires);
  }

 private:
  storage::LocalObjectStore inner_;
};

class PullStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("sdxl-pullstream-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "bucket");
    store_ = std::make_unique<SlowWeightsStore>(root_ / "bucket");
    options_.cache_root = root_ / "cache";
    options_.transfer.range_size = 128 * 1024;
    options_.transfer.concurrency = 4;
    files_ = {{"model_index.json", "{}"},
              {"unet/config.json", "{}"},
              {"unet/diffusion_pytorch_model.safetensors", Safetensors(300000, 1)},
              {"text_encoder/config.json", "{}"},
              {"text_encoder/model.safetensors", Safetensors(60000, 2)}};
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path ModelDir() const { return root_ / "bucket" / "org" / "model"; }
  fs::path CacheDir() const { return root_ / "cache" / "bucket" / "org" / "model"; }

  void Upload(bool with_manifest) {
    for (const auto& [rel, data] : files_) Write(ModelDir() / rel, data);
    if (!with_manifest) return;
    auto entries = weights::BuildFileEntries(ModelDir(), 64 * 1024);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    weights::Manifest m;
    m.source_repo = "org/model";
    m.files = std::move(*entries);
    ASSERT_TRUE(
        weights::WriteManifestFile(m, ModelDir() / std::string(weights::kManifestFileName)).ok());
  }

  // Pulls with a PullWeightSource while two "engine" threads stream both weight files.
  struct Outcome {
    core::Status pull, unet, text;
    std::unique_ptr<Collector> unet_bytes, text_bytes;
    std::uint64_t streamed = 0, from_disk = 0, on_demand = 0;
    PullStats stats;
  };
  Outcome PullAndStream() {
    Outcome out;
    PullWeightSource source;
    PullOptions opts = options_;
    opts.observer = &source;
    std::thread puller([&] {
      auto r = PullModel(*store_, ref_, opts);
      out.pull = r.ok() ? core::Status::Ok() : r.status();
      if (r.ok()) out.stats = r->stats;
      source.Finish(out.pull);
    });
    const auto stream = [&](const std::string& component, const std::string& rel,
                            std::unique_ptr<Collector>& sink) {
      core::Status st = source.WaitForComponent(component);
      if (!st.ok()) return st;
      if (!fs::exists(CacheDir() / component / "config.json")) {
        return core::Internal("config.json is not in place after WaitForComponent");
      }
      if (!source.HasFile(CacheDir() / rel)) return core::NotFound(rel);
      sink = std::make_unique<Collector>(files_.at(rel).size());
      return source.Stream(CacheDir() / rel, sink->Sink());
    };
    std::thread text([&] {
      out.text = stream("text_encoder", "text_encoder/model.safetensors", out.text_bytes);
    });
    out.unet = stream("unet", "unet/diffusion_pytorch_model.safetensors", out.unet_bytes);
    text.join();
    source.EngineFinished();
    puller.join();
    out.streamed = source.bytes_streamed();
    out.from_disk = source.bytes_from_disk();
    out.on_demand = source.bytes_fetched_on_demand();
    return out;
  }

  fs::path root_;
  std::unique_ptr<SlowWeightsStore> store_;
  ModelRef ref_{"bucket", "org/model"};
  PullOptions options_;
  std::map<std::string, std::string> files_;
};

TEST_F(PullStreamTest, EveryByteArrivesOnceWhileDownloadingAndTheCacheIsComplete) {
  Upload(/*with_manifest=*/true);
  Outcome out = PullAndStream();
  ASSERT_TRUE(out.pull.ok()) << out.pull.ToString();
  ASSERT_TRUE(out.unet.ok()) << out.unet.ToString();
  ASSERT_TRUE(out.text.ok()) << out.text.ToString();
  const auto& unet = files_.at("unet/diffusion_pytorch_model.safetensors");
  const auto& text = files_.at("text_encoder/model.safetensors");
  out.unet_bytes->Expect(unet, DataOffset(unet));
  out.text_bytes->Expect(text, DataOffset(text));
  EXPECT_GT(out.streamed, 0u);  // most bytes came straight from the download
  EXPECT_GE(out.streamed + out.from_disk,
            unet.size() - DataOffset(unet) + text.size() - DataOffset(text));
  std::ifstream in(CacheDir() / "unet/diffusion_pytorch_model.safetensors", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), unet);

  // Warm: the same loader reads the complete cache from disk.
  Outcome warm = PullAndStream();
  ASSERT_TRUE(warm.pull.ok() && warm.unet.ok() && warm.text.ok());
  warm.unet_bytes->Expect(unet, DataOffset(unet));
  EXPECT_EQ(warm.streamed, 0u);
  EXPECT_EQ(warm.from_disk, unet.size() - DataOffset(unet) + text.size() - DataOffset(text));
}

TEST_F(PullStreamTest, WithoutManifestHeadersComeFromRangedReads) {
  Upload(/*with_manifest=*/false);
  Outcome out = PullAndStream();
  ASSERT_TRUE(out.pull.ok()) << out.pull.ToString();
  ASSERT_TRUE(out.unet.ok()) << out.unet.ToString();
  const auto& unet = files_.at("unet/diffusion_pytorch_model.safetensors");
  out.unet_bytes->Expect(unet, DataOffset(unet));
}

TEST_F(PullStreamTest, ACorruptChunkStopsTheStreamAndNothingIsCached) {
  Upload(/*with_manifest=*/true);
  // Same size, one byte changed after the manifest was written: only a hash can tell.
  const fs::path target = ModelDir() / "unet/diffusion_pytorch_model.safetensors";
  std::string bad = files_.at("unet/diffusion_pytorch_model.safetensors");
  bad[bad.size() / 2] ^= 0x5a;
  Write(target, bad);
  Outcome out = PullAndStream();
  EXPECT_EQ(out.pull.code(), core::Code::kDataLoss);
  EXPECT_NE(out.pull.message().find("does not match the manifest"), std::string::npos)
      << out.pull.ToString();
  EXPECT_EQ(out.unet.code(), core::Code::kDataLoss);
  EXPECT_FALSE(fs::exists(CacheDir() / "unet/diffusion_pytorch_model.safetensors"));
}

TEST_F(PullStreamTest, ASafetensorsHeaderThatLiesIsRefusedBeforeTheDownload) {
  // No manifest: the header is read with a ranged GET and checked against the object size.
  files_["unet/diffusion_pytorch_model.safetensors"].resize(
      files_["unet/diffusion_pytorch_model.safetensors"].size() - 4);
  Upload(/*with_manifest=*/false);
  Outcome out = PullAndStream();
  EXPECT_EQ(out.pull.code(), core::Code::kDataLoss) << out.pull.ToString();
  EXPECT_NE(out.pull.message().find("diffusion_pytorch_model.safetensors"), std::string::npos)
      << out.pull.ToString();
  EXPECT_FALSE(out.unet.ok());
}

// The disk-full tests run the pull in a child process with the cache on a small tmpfs
// (core/testing/small_disk.h) and report back as text.
class PullOnFullDiskTest : public PullStreamTest {
 protected:
  // What PullAndStream did, in one comparable line.
  std::string Report(Outcome& out, const fs::path& cache_dir) {
    const auto& unet = files_.at("unet/diffusion_pytorch_model.safetensors");
    const auto& text = files_.at("text_encoder/model.safetensors");
    std::string r = "pull=" + std::string(core::CodeName(out.pull.code()));
    r += " unet=" + std::string(core::CodeName(out.unet.code()));
    r += " text=" + std::string(core::CodeName(out.text.code()));
    if (out.pull.ok() && out.unet.ok() && out.text.ok()) {
      r += " unet_bytes=[" + out.unet_bytes->Check(unet, DataOffset(unet)) + "]";
      r += " text_bytes=[" + out.text_bytes->Check(text, DataOffset(text)) + "]";
      r += " not_cached=" + std::to_string(out.stats.files_not_cached);
      if (report_on_demand_) r += " on_demand=" + std::to_string(out.on_demand);
    } else {
      r += " error=" + out.pull.message();
    }
    r += " cached:";
    for (const char* rel : {"text_encoder/model.safetensors",
                            "unet/diffusion_pytorch_model.safetensors", "unet/config.json"}) {
      if (fs::exists(cache_dir / rel)) r += std::string(" ") + rel;
    }
    if (fs::exists(cache_dir / std::string(kCompleteMarkerName))) r += " marker";
    for (const auto& e : fs::recursive_directory_iterator(cache_dir)) {
      const std::string name = e.path().filename().string();
      if (name.find(storage::kTempMarker) != std::string::npos ||
          name.ends_with(".sdxl-unverified")) {
        r += " leftover:" + name;
      }
    }
    return r;
  }
  bool report_on_demand_ = false;
};

TEST_F(PullOnFullDiskTest, WeightsThatDoNotFitStreamWithoutTheCacheWhenAllowed) {
  Upload(/*with_manifest=*/true);
  fs::create_directories(root_ / "cache");
  const auto run = [&](bool allow) {
    return core::testing::RunOnSmallDisk(256 * 1024, root_ / "cache",
                                         [&](const fs::path&) -> std::string {
                                           options_.continue_without_cache = allow;
                                           Outcome out = PullAndStream();
                                           return Report(out, CacheDir());
                                         });
  };
  // 1.4 MiB of weights, 256 KiB of disk: known up front; none of the weights is downloaded by
  // the pull or cached; the engine side reads exactly their data from the bucket when it asks.
  report_on_demand_ = true;
  const auto& unet = files_.at("unet/diffusion_pytorch_model.safetensors");
  const auto& text = files_.at("text_encoder/model.safetensors");
  auto allowed = run(true);
  if (!allowed) GTEST_SKIP() << "cannot mount a small tmpfs here (no mount namespace)";
  EXPECT_EQ(*allowed,
            "pull=OK unet=OK text=OK unet_bytes=[] text_bytes=[] not_cached=2 on_demand=" +
                std::to_string(unet.size() - DataOffset(unet) + text.size() - DataOffset(text)) +
                " cached: unet/config.json");
  // A plain pull (no engine to stream to) fails up front with what to do.
  auto refused = run(false);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rfind("pull=RESOURCE_EXHAUSTED", 0), 0u) << *refused;
  EXPECT_NE(refused->find("not enough disk space in "), std::string::npos) << *refused;
  EXPECT_NE(refused->find("point MODEL_CACHE_DIR (--cache) at a larger disk"), std::string::npos)
      << *refused;
  EXPECT_EQ(refused->find("leftover"), std::string::npos) << *refused;
}

TEST_F(PullOnFullDiskTest, ADiskThatFillsUpDuringThePullStreamsTheRest) {
  Upload(/*with_manifest=*/true);
  fs::create_directories(root_ / "cache");
  // One worker: the text encoder's file is reserved before its first read; at that read another
  // process fills the disk, so the UNet's file cannot be reserved.
  options_.transfer.concurrency = 1;
  const fs::path cache = root_ / "cache";
  store_->on_get = [cache](std::string_view key, std::uint64_t offset) {
    if (offset != 0 || !key.ends_with("text_encoder/model.safetensors")) return;
    struct statvfs vfs {};
    if (::statvfs(cache.c_str(), &vfs) != 0) return;
    const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (avail <= 160 * 1024) return;
    std::ofstream(cache / "filler", std::ios::binary) << std::string(avail - 150 * 1024, 'x');
  };
  auto report = core::testing::RunOnSmallDisk(4 << 20, cache, [&](const fs::path&) -> std::string {
    options_.continue_without_cache = true;
    Outcome out = PullAndStream();
    return Report(out, CacheDir());
  });
  if (!report) GTEST_SKIP() << "cannot mount a small tmpfs here (no mount namespace)";
  EXPECT_EQ(*report,
            "pull=OK unet=OK text=OK unet_bytes=[] text_bytes=[] not_cached=1 cached: "
            "text_encoder/model.safetensors unet/config.json");
}

}  // namespace
}  // namespace sdxl::loader
