// How prepare-model reads BUCKET (ParseDestination, ModelLocation) and which values the
// environment block can hold unquoted (IsEnvSafe).
#include "prepare/prepare.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace sdxl::prepare {
namespace {

namespace fs = std::filesystem;
using Kind = storage::Location::Kind;

// Runs the test inside a fresh folder holding a subfolder `model-storage` (restores the cwd).
class InFolderWithBucketNamedDir : public ::testing::Test {
 protected:
  void SetUp() override {
    old_ = fs::current_path();
    dir_ = fs::temp_directory_path() / ("prepare-dest-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "model-storage");
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path old_, dir_;
};

TEST_F(InFolderWithBucketNamedDir, BareNameIsTheBucketEvenWhenAFolderHasIt) {
  auto loc = ParseDestination("model-storage");
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->kind, Kind::kS3);
  EXPECT_EQ(loc->bucket, "model-storage");
  EXPECT_EQ(ModelLocation("model-storage", "ByteDance/SDXL-Lightning").value(),
            "s3://model-storage/ByteDance/SDXL-Lightning");
  // Written as a path, it is the folder.
  auto local = ParseDestination("./model-storage");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->kind, Kind::kLocal);
  EXPECT_EQ(ModelLocation("./model-storage", "m").value(),
            "file://" + (dir_ / "model-storage" / "m").string());
}

TEST(ParseDestination, Forms) {
  auto s3 = ParseDestination("s3://models/prod/");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->kind, Kind::kS3);
  EXPECT_EQ(s3->bucket, "models");
  EXPECT_EQ(s3->prefix, "prod/");
  EXPECT_EQ(ModelLocation("s3://models/prod/", "org/m").value(), "s3://models/prod/org/m");
  for (const char* local : {"/srv/store", "./store", "../store", "~/store", ".", "..",
                            "file:///srv/store", "file://rel"}) {
    auto l = ParseDestination(local);
    ASSERT_TRUE(l.ok()) << local << ": " << l.status().ToString();
    EXPECT_EQ(l->kind, Kind::kLocal) << local;
  }
  EXPECT_EQ(ParseDestination("file:///srv/store")->path, "/srv/store");
}

TEST(ParseDestination, RefusesAmbiguousAndInvalidNamesWithTheSpellingToUse) {
  auto ambiguous = ParseDestination("models/prod");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("s3://models/prod"), std::string::npos);
  EXPECT_NE(ambiguous.status().message().find("./models/prod"), std::string::npos);
  for (const char* bad : {"My_Models", "ab", "-models", "models-", "gs://b", ""}) {
    EXPECT_FALSE(ParseDestination(bad).ok()) << bad;
  }
  auto upper = ParseDestination("My_Models");
  EXPECT_NE(upper.status().message().find("./My_Models"), std::string::npos);
  EXPECT_TRUE(ParseDestination("model-storage.v2").ok());
}

TEST(IsEnvSafe, ValuesThatShDockerAndFlyReadTheSame) {
  for (const char* ok : {"ByteDance/SDXL-Lightning", "https://t3.storage.dev",
                         "http://127.0.0.1:8333", "auto", "org/name_v1.0", "a+b,c@d%e=f"}) {
    EXPECT_TRUE(IsEnvSafe(ok)) << ok;
  }
  for (const char* bad : {"", "a b", "a'b", "a\"b", "$HOME", "a;b", "~/x", "a#b", "a`b", "a\\b",
                          "a*b", "a\nb", "(x)"}) {
    EXPECT_FALSE(IsEnvSafe(bad)) << bad;
  }
  EXPECT_FALSE(ModelLocation("models", "my model").ok());
  EXPECT_FALSE(ModelLocation("models", "$x").ok());
}

}  // namespace
}  // namespace sdxl::prepare
