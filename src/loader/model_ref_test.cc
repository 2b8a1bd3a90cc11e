#include "loader/model_ref.h"

#include <gtest/gtest.h>

#include <map>

#include "loader/model_cache.h"

namespace sdxl::loader {
namespace {

core::Environment Env(const std::map<std::string, std::string>& vars) {
  return core::Environment(vars);
}

TEST(ParseModelRef, BucketAndPath) {
  auto r = ParseModelRef("s3://models/ByteDance/SDXL-Lightning");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bucket, "models");
  EXPECT_EQ(r->prefix, "ByteDance/SDXL-Lightning");
  EXPECT_EQ(ToUri(*r), "s3://models/ByteDance/SDXL-Lightning");

  auto slash = ParseModelRef("s3://models/a/b/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(slash->prefix, "a/b");

  auto root = ParseModelRef("s3://models");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->prefix, "");
  EXPECT_EQ(ToUri(*root), "s3://models");
  EXPECT_EQ(ParseModelRef("s3://models/")->prefix, "");
}

TEST(ParseModelRef, RejectsWhatIsNotAnS3Url) {
  for (const char* bad : {"models/x", "/abs/path", "http://h/b/p", "S3://b/p", ""}) {
    auto r = ParseModelRef(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), core::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("s3://BUCKET/PATH"), std::string::npos)
        << r.status().message();
  }
}

TEST(ParseModelRef, RejectsPathsThatWouldEscapeTheCache) {
  for (const char* bad : {"s3://", "s3:///x", "s3://b/../etc", "s3://b/a/./c", "s3://b/a//c",
                          "s3://b//a", "s3://../x", "s3://b:c/x", "s3://b/a\\..\\c"}) {
    auto r = ParseModelRef(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), core::Code::kInvalidArgument) << bad;
  }
}

TEST(ModelRefFromEnvironment, ReadsTheDeploymentVariables) {
  core::Environment env(
      {{"MODEL_BUCKET_NAME", "my-models"}, {"MODEL_PATH", "ByteDance/SDXL-Lightning"}});
  auto r = ModelRefFromEnvironment(env);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bucket, "my-models");
  EXPECT_EQ(r->prefix, "ByteDance/SDXL-Lightning");

  // Slashes around the path and an s3:// on the bucket are forgiven.
  auto lax = ModelRefFromEnvironment(
      Env({{"MODEL_BUCKET_NAME", "s3://my-models/"}, {"MODEL_PATH", "/m/x/"}}));
  ASSERT_TRUE(lax.ok()) << lax.status().ToString();
  EXPECT_EQ(ToUri(*lax), "s3://my-models/m/x");
}

TEST(ModelRefFromEnvironment, MissingVariablesAreNamed) {
  auto none = ModelRefFromEnvironment(core::Environment());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), core::Code::kNotFound);
  EXPECT_NE(none.status().message().find("MODEL_BUCKET_NAME and MODEL_PATH"), std::string::npos);

  auto no_path = ModelRefFromEnvironment(Env({{"MODEL_BUCKET_NAME", "b"}}));
  ASSERT_FALSE(no_path.ok());
  EXPECT_EQ(no_path.status().code(), core::Code::kNotFound);
  EXPECT_NE(no_path.status().message().find("MODEL_PATH is not"), std::string::npos);

  auto no_bucket = ModelRefFromEnvironment(Env({{"MODEL_BUCKET_NAME", ""}, {"MODEL_PATH", "m"}}));
  ASSERT_FALSE(no_bucket.ok());
  EXPECT_NE(no_bucket.status().message().find("MODEL_BUCKET_NAME is not"), std::string::npos);

  auto bad =
      ModelRefFromEnvironment(Env({{"MODEL_BUCKET_NAME", "b"}, {"MODEL_PATH", "a/../../etc"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), core::Code::kInvalidArgument);
}

TEST(DefaultCacheRoot, PrecedenceModelCacheDirThenXdgThenHome) {
  EXPECT_EQ(
      DefaultCacheRoot(Env(
          {{"MODEL_CACHE_DIR", "/data/cache"}, {"XDG_CACHE_HOME", "/xdg"}, {"HOME", "/home/u"}})),
      std::filesystem::path("/data/cache"));
  EXPECT_EQ(DefaultCacheRoot(Env({{"XDG_CACHE_HOME", "/xdg"}, {"HOME", "/home/u"}})),
            std::filesystem::path("/xdg/sdxl-tigris/models"));
  EXPECT_EQ(DefaultCacheRoot(Env({{"MODEL_CACHE_DIR", ""}, {"HOME", "/home/u"}})),
            std::filesystem::path("/home/u/.cache/sdxl-tigris/models"));
}

TEST(ModelCacheDir, BucketThenPrefix) {
  EXPECT_EQ(ModelCacheDir("/c", ModelRef{"b", "org/model"}),
            std::filesystem::path("/c/b/org/model"));
  EXPECT_EQ(ModelCacheDir("/c", ModelRef{"b", ""}), std::filesystem::path("/c/b"));
}

}  // namespace
}  // namespace sdxl::loader
