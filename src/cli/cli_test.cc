// Unit tests of the CLI's pure helpers: ls output (aws s3 ls lines, one-level view, --json),
// global S3 flags, the credential-source note on refused keys, and `cp -` streaming (against the
// local-filesystem store).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/cp_stream.h"
#include "cli/ls_format.h"
#include "cli/s3_flags.h"
#include "core/fd_io.h"
#include "storage/local_object_store.h"

namespace sdxl::cli {
namespace {

namespace fs = std::filesystem;

storage::ObjectInfo Obj(std::string key, std::uint64_t size,
                        std::string when = "2024-05-01T12:34:56.000Z") {
  storage::ObjectInfo o;
  o.key = std::move(key);
  o.size = size;
  o.etag = "e";
  o.last_modified = std::move(when);
  return o;
}

class UtcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? tz : "";
    had_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_) {
      setenv("TZ", saved_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(UtcTest, LsLinesLookLikeAwsS3Ls) {
  const std::vector<storage::ObjectInfo> objects = {Obj("models/x/a.json", 12)};
  const auto rows = RecursiveRows(objects);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(LsLine(rows[0], false), "2024-05-01 12:34:56         12 models/x/a.json");
  EXPECT_EQ(LsLine(rows[0], true), "2024-05-01 12:34:56   12 Bytes models/x/a.json");
  LsRow pre;
  pre.prefix = true;
  pre.name = "sub/";
  EXPECT_EQ(LsLine(pre, false), "                           PRE sub/");
  EXPECT_EQ(BucketLine({"models", "2025-01-02T03:04:05Z"}), "2025-01-02 03:04:05 models");
  EXPECT_EQ(FormatS3Time("not a date"), "not a date");
}

TEST_F(UtcTest, DatesAreShownInTheLocalTimeZone) {
  setenv("TZ", "IST-5:30", 1);  // POSIX form of UTC+5:30 (no tzdata needed)
  tzset();
  EXPECT_EQ(FormatS3Time("2024-05-01T12:34:56.000Z"), "2024-05-01 18:04:56");
}

TEST(LsFormat, OneLevelViewHasOnePreLinePerFolderThenTheFiles) {
  const std::vector<storage::ObjectInfo> objects = {
      Obj("m/a.json", 1), Obj("m/sub/b", 2), Obj("m/sub/c/d", 3), Obj("m/z", 4), Obj("m2/q", 5)};
  const auto rows = OneLevelRows(objects, "m/");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].prefix);
  EXPECT_EQ(rows[0].name, "sub/");
  EXPECT_EQ(rows[0].key, "m/sub/");
  EXPECT_EQ(rows[1].name, "a.json");
  EXPECT_EQ(rows[1].key, "m/a.json");
  EXPECT_EQ(rows[2].name, "z");
  const auto top = OneLevelRows(objects, "");
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].name, "m/");
  EXPECT_EQ(top[1].name, "m2/");
}

TEST(LsFormat, JsonLinesAreDocumentedObjects) {
  const std::vector<storage::ObjectInfo> objects = {Obj("k\"ey", 7)};
  const auto row = RecursiveRows(objects)[0];
  const auto j = nlohmann::json::parse(LsJson(row));
  EXPECT_EQ(j["key"], "k\"ey");
  EXPECT_EQ(j["size"], 7);
  EXPECT_EQ(j["last_modified"], "2024-05-01T12:34:56.000Z");
  EXPECT_EQ(j["etag"], "e");
  LsRow pre;
  pre.prefix = true;
  pre.key = "a/b/";
  EXPECT_EQ(nlohmann::json::parse(LsJson(pre)), nlohmann::json({{"prefix", "a/b/"}}));
  EXPECT_EQ(nlohmann::json::parse(BucketJson({"b", "2025-01-02T03:04:05Z"})),
            nlohmann::json({{"bucket", "b"}, {"creation_date", "2025-01-02T03:04:05Z"}}));
  EXPECT_EQ(nlohmann::json::parse(SummaryJson(2, 9)),
            nlohmann::json({{"total_objects", 2}, {"total_size", 9}}));
  EXPECT_EQ(HumanSize(1536), "1.5 KiB");
  EXPECT_EQ(HumanSize(5ull << 30), "5.0 GiB");
}

TEST(GlobalFlags, TheSubcommandsValueWinsOverTheGlobalOne) {
  S3Flags global{"https://global", "auto", "g", ""};
  S3Flags local{"", "eu-west-1", "", "path"};
  const S3Flags merged = MergeS3Flags(global, local);
  EXPECT_EQ(merged.endpoint_url, "https://global");
  EXPECT_EQ(merged.region, "eu-west-1");
  EXPECT_EQ(merged.profile, "g");
  EXPECT_EQ(merged.addressing_style, "path");
}

TEST(GlobalFlags, ForEnvironmentReadersTheyBecomeTheVariables) {
  core::Environment env({{"AWS_ACCESS_KEY_ID", "AK"},
                         {"AWS_SECRET_ACCESS_KEY", "SK"},
                         {"AWS_ENDPOINT_URL_S3", "https://old"},
                         {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"},
                         {"HOME", "/h"}});
  EXPECT_EQ(ApplyS3FlagsToEnvironment(env, {}).vars(), env.vars());
  const auto e = ApplyS3FlagsToEnvironment(env, {"https://new", "auto", "", "path"});
  EXPECT_EQ(e.GetOr("AWS_ENDPOINT_URL_S3", ""), "https://new");
  EXPECT_FALSE(e.Get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"));
  EXPECT_EQ(e.GetOr("AWS_REGION", ""), "auto");
  EXPECT_EQ(e.GetOr("AWS_S3_ADDRESSING_STYLE", ""), "path");
  EXPECT_EQ(e.GetOr("AWS_ACCESS_KEY_ID", ""), "AK");
  // --profile beats the environment's keys, as it does for the S3 commands.
  const auto p = ApplyS3FlagsToEnvironment(env, {"", "", "work", ""});
  EXPECT_EQ(p.GetOr("AWS_PROFILE", ""), "work");
  EXPECT_FALSE(p.Get("AWS_ACCESS_KEY_ID"));
  EXPECT_FALSE(p.Get("AWS_SECRET_ACCESS_KEY"));
}

TEST(CredentialSource, NamedOnlyWhenTheServerRefusedTheKeys) {
  storage::S3Config config;
  config.credentials.access_key_id = "AKIAEXAMPLE1234";
  config.credentials_source = "profile \"work\" in /h/.aws/credentials (--profile)";
  const core::Status refused =
      core::Status(core::Code::kUnauthenticated, "GET s3://b/k: access key is unknown")
          .WithHttp(403, "InvalidAccessKeyId");
  const core::Status named = NameCredentialSource(refused, config);
  EXPECT_EQ(named.code(), core::Code::kUnauthenticated);
  EXPECT_EQ(named.service_code(), "InvalidAccessKeyId");
  EXPECT_NE(named.message().find("profile \"work\" in /h/.aws/credentials"), std::string::npos)
      << named.message();
  EXPECT_NE(named.message().find("****1234"), std::string::npos) << named.message();
  EXPECT_EQ(named.message().find("AKIAEXAMPLE"), std::string::npos) << named.message();
  const core::Status sig =
      core::Status(core::Code::kUnauthenticated, "x").WithHttp(403, "SignatureDoesNotMatch");
  EXPECT_NE(NameCredentialSource(sig, config).message(), "x");
  const core::Status denied =
      core::Status(core::Code::kPermissionDenied, "y").WithHttp(403, "AccessDenied");
  EXPECT_EQ(NameCredentialSource(denied, config).message(), "y");
}

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cli-stream-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "store");
    std::signal(SIGPIPE, SIG_IGN);
    store_ = std::make_unique<storage::LocalObjectStore>(dir_ / "store");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Feeds `data` through a pipe (a writer thread), as `producer | sdxl-tigris cp - ...` does.
  core::Result<StreamStats> Upload(const std::string& data, const storage::TransferOptions& o) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    std::thread writer([&] {
      (void)core::WriteFull(fds[1], data);
      ::close(fds[1]);
    });
    auto r = UploadStream(*store_, "k/obj", fds[0], o);
    ::close(fds[0]);  // a writer still blocked (the upload stopped early) gets EPIPE
    writer.join();
    return r;
  }

  fs::path dir_;
  std::unique_ptr<storage::LocalObjectStore> store_;
};

std::string Random(std::size_t n) {
  std::mt19937 gen(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

TEST_F(StreamTest, SmallInputIsOnePut) {
  storage::TransferOptions o;
  o.part_size = 5 * storage::kMiB;
  auto r = Upload("hello", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->parts, 0);
  EXPECT_EQ(r->bytes, 5u);
  EXPECT_EQ(*store_->GetObject("k/obj"), "hello");
}

TEST_F(StreamTest, LongInputIsAMultipartUploadOfPartSizeParts) {
  storage::TransferOptions o;
  o.part_size = 5 * storage::kMiB;
  o.concurrency = 3;
  for (std::size_t n : {12 * storage::kMiB + 7, 10 * storage::kMiB}) {  // ragged, on a boundary
    const std::string data = Random(n);
    auto r = Upload(data, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->bytes, n);
    EXPECT_EQ(r->parts, static_cast<int>((n + o.part_size - 1) / o.part_size));
    EXPECT_EQ(*store_->GetObject("k/obj"), data);
  }
}

TEST_F(StreamTest, CancelledInputWritesNoObject) {
  storage::TransferOptions o;
  o.part_size = 5 * storage::kMiB;
  std::atomic<bool> cancel{true};
  o.cancel = &cancel;
  auto r = Upload(Random(11 * storage::kMiB), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kCancelled);
  EXPECT_FALSE(store_->Head("k/obj").ok());
}

TEST_F(StreamTest, DownloadWritesTheObjectToTheDescriptor) {
  const std::string data = Random(3 * storage::kMiB + 5);
  ASSERT_TRUE(store_->Put("k/obj", data).ok());
  const fs::path out = dir_ / "out.bin";
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  auto r = DownloadStream(*store_, "k/obj", fd, {});
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bytes, data.size());
  std::ifstream in(out, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), data);
  EXPECT_FALSE(DownloadStream(*store_, "missing", fd, {}).ok());
}

}  // namespace
}  // namespace sdxl::cli
