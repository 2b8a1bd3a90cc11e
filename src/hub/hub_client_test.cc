// HubClient against tools/fake_hub.py (a real HTTP server speaking the Hub protocol, with a
// second "CDN" port that refuses forwarded tokens).
#include "hub/hub_client.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "http/http_client.h"

namespace sdxl::hub {
namespace {
namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

// Runs tools/fake_hub.py as a child process; killed (by its PID) on destruction.
class FakeHubProcess {
 public:
  FakeHubProcess(const fs::path& work, std::vector<std::string> args) {
    auto env = core::Environment::FromProcess();
    std::string src = env.GetOr("SDXL_SOURCE_DIR", SDXL_SOURCE_DIR_FALLBACK);
    fs::path port_file = work / "hub.url";
    fs::remove(port_file);
    std::vector<std::string> argv = {"python3", src + "/tools/fake_hub.py", "--port-file",
                                     port_file.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execvp("python3", cargv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    url_ = ReadFile(port_file);
  }
  ~FakeHubProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& url() const { return url_; }

  nlohmann::json Stats() const {
    http::HttpClient client;
    http::HttpRequest request;
    request.url = url_ + "/_stats";
    auto r = client.Send(request);
    return r.ok() ? nlohmann::json::parse(r->body) : nlohmann::json();
  }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

class HubClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = fs::temp_directory_path() /
            ("sdxl_hub_client_test_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(work_);
    repo_ = work_ / "repo";
    std::mt19937 rng(42);
    std::string weights(3 << 20, '\0');
    for (auto& c : weights) c = static_cast<char>(rng());
    WriteFile(repo_ / "model_index.json", R"({"_class_name": "StableDiffusionXLPipeline"})");
    WriteFile(repo_ / "unet/config.json", R"({"in_channels": 4})");
    WriteFile(repo_ / "unet/diffusion_pytorch_model.safetensors", weights);
    WriteFile(repo_ / "scheduler/scheduler_config.json", R"({"timestep_spacing": "leading"})");
    weights_ = weights;
  }
  void TearDown() override { fs::remove_all(work_); }

  HubClient MakeClient(const std::string& endpoint, std::optional<std::string> token = {}) {
    HubConfig c;
    c.endpoint = endpoint;
    c.cache_dir = (work_ / "hf/hub").string();
    c.token = std::move(token);
    c.initial_backoff = std::chrono::milliseconds(20);
    c.max_backoff = std::chrono::milliseconds(100);
    return HubClient(c);
  }

  static const RepoFile& Find(const std::vector<RepoFile>& files, const std::string& path) {
    for (const auto& f : files) {
      if (f.path == path) return f;
    }
    static RepoFile none;
    ADD_FAILURE() << "no " << path;
    return none;
  }

  // The commit of org/tiny@main and the listing entry of its UNet weights (an LFS file).
  static std::pair<std::string, RepoFile> ResolveAndFindWeights(HubClient& client) {
    auto commit = client.ResolveRevision("org/tiny", "main").value();
    auto files = client.ListFiles("org/tiny", commit).value();
    return {commit, Find(files, "unet/diffusion_pytorch_model.safetensors")};
  }

  fs::path work_, repo_;
  std::string weights_;
};

TEST_F(HubClientTest, ResolvesListsPagesDownloadsAndReusesTheCache) {
  FakeHubProcess hub(work_, {"--repo", "org/tiny=" + repo_.string(), "--page-size", "2", "--token",
                             "hf_secret", "--private", "org/tiny"});
  ASSERT_FALSE(hub.url().empty());
  auto client = MakeClient(hub.url(), "hf_secret");
  auto commit = client.ResolveRevision("org/tiny", "main");
  ASSERT_TRUE(commit.ok()) << commit.status().ToString();
  EXPECT_EQ(commit->size(), 40u);
  EXPECT_EQ(client.cache().ReadRef("org/tiny", "main").value(), *commit);

  auto files = client.ListFiles("org/tiny", *commit);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 4u);  // 4 files + 2 dirs over 3 pages of 2
  const RepoFile& w = Find(*files, "unet/diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(w.lfs_sha256.has_value());
  EXPECT_EQ(w.size, weights_.size());

  uint64_t progressed = 0;
  for (const auto& f : *files) {
    auto p = client.Download("org/tiny", *commit, f, [&](uint64_t n) { progressed += n; });
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(ReadFile(*p), ReadFile(repo_ / f.path)) << f.path;
    EXPECT_TRUE(fs::is_symlink(*p));
  }
  EXPECT_EQ(progressed, weights_.size() + ReadFile(repo_ / "model_index.json").size() +
                            ReadFile(repo_ / "unet/config.json").size() +
                            ReadFile(repo_ / "scheduler/scheduler_config.json").size());
  auto stats = hub.Stats();
  EXPECT_EQ(stats["auth_on_cdn"], 0);  // the token never went to the CDN host
  EXPECT_EQ(stats["cdn_bytes"], weights_.size());

  // Second pass: everything comes from the cache, no request.
  uint64_t before = client.requests();
  for (const auto& f : *files) ASSERT_TRUE(client.Download("org/tiny", *commit, f).ok());
  EXPECT_EQ(client.requests(), before);
  EXPECT_EQ(client.files_from_cache(), 4u);
}

TEST_F(HubClientTest, ResumesAPartialBlobWithRange) {
  FakeHubProcess hub(work_, {"--repo", "org/tiny=" + repo_.string()});
  auto client = MakeClient(hub.url());
  const auto [commit, w] = ResolveAndFindWeights(client);
  size_t half = weights_.size() / 2;
  WriteFile(client.cache().IncompletePath("org/tiny", w.etag()), weights_.substr(0, half));
  auto p = client.Download("org/tiny", commit, w);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(ReadFile(*p), weights_);
  auto stats = hub.Stats();
  EXPECT_EQ(stats["range_requests"], 1);
  EXPECT_EQ(stats["cdn_bytes"], weights_.size() - half);
}

TEST_F(HubClientTest, CorruptPartialBlobIsDetectedAndRedownloaded) {
  FakeHubProcess hub(work_, {"--repo", "org/tiny=" + repo_.string()});
  auto client = MakeClient(hub.url());
  const auto [commit, w] = ResolveAndFindWeights(client);
  WriteFile(client.cache().IncompletePath("org/tiny", w.etag()), std::string(1000, 'x'));
  auto p = client.Download("org/tiny", commit, w);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(ReadFile(*p), weights_);
}

TEST_F(HubClientTest, RetriesRateLimitsAndServerErrors) {
  FakeHubProcess hub(work_, {"--repo", "org/tiny=" + repo_.string(), "--rate-limit-first", "2",
                             "--fail-first", "1"});
  auto client = MakeClient(hub.url());
  auto t0 = std::chrono::steady_clock::now();
  auto commit = client.ResolveRevision("org/tiny", "main");
  ASSERT_TRUE(commit.ok()) << commit.status().ToString();
  // Two 429s that ask for t=1 s each were honoured.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1800));
  auto stats = hub.Stats();
  EXPECT_EQ(stats["429"], 2);
  EXPECT_EQ(stats["5xx"], 1);
}

TEST_F(HubClientTest, ClearErrorsForGatedPrivateMissing) {
  FakeHubProcess hub(
      work_, {"--repo", "org/tiny=" + repo_.string(), "--repo", "org/gated=" + repo_.string(),
              "--gated", "org/gated", "--private", "org/tiny", "--token", "hf_good"});
  auto anon = MakeClient(hub.url());
  auto priv = anon.ResolveRevision("org/tiny", "main");
  ASSERT_FALSE(priv.ok());
  EXPECT_EQ(priv.status().code(), core::Code::kNotFound);
  EXPECT_NE(priv.status().message().find("set HF_TOKEN"), std::string::npos);

  auto gated = anon.ResolveRevision("org/gated", "main");
  ASSERT_FALSE(gated.ok());
  EXPECT_EQ(gated.status().code(), core::Code::kPermissionDenied);
  EXPECT_NE(gated.status().message().find("ask for access at " + hub.url() + "/org/gated"),
            std::string::npos);

  auto authed = MakeClient(hub.url(), "hf_good");
  auto gated2 = authed.ResolveRevision("org/gated", "main");
  ASSERT_FALSE(gated2.ok());
  EXPECT_EQ(gated2.status().code(), core::Code::kPermissionDenied);
  EXPECT_EQ(gated2.status().http_status(), 403);

  auto bad = MakeClient(hub.url(), "hf_wrong");
  auto badtok = bad.ResolveRevision("org/tiny", "main");
  EXPECT_EQ(badtok.status().code(), core::Code::kUnauthenticated);

  auto missing = authed.ResolveRevision("org/nope", "main");
  EXPECT_EQ(missing.status().code(), core::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("'org/nope'"), std::string::npos);

  auto rev = authed.ResolveRevision("org/tiny", "v9");
  EXPECT_EQ(rev.status().code(), core::Code::kNotFound);
  EXPECT_NE(rev.status().message().find("revision 'v9'"), std::string::npos);

  auto commit = authed.ResolveRevision("org/tiny", "main").value();
  RepoFile ghost{"unet/ghost.safetensors", 10, "00", std::string(64, 'a')};
  auto file = authed.Download("org/tiny", commit, ghost);
  EXPECT_EQ(file.status().code(), core::Code::kNotFound);
  EXPECT_NE(file.status().message().find("unet/ghost.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace sdxl::hub
