#include "hub/hub_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace sdxl::hub {
namespace {

core::Environment Env(const std::map<std::string, std::string>& m) { return core::Environment(m); }

TEST(HubConfig, DefaultsFollowHuggingfaceHub) {
  auto c = HubConfig::FromEnvironment(Env({{"HOME", "/home/u"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint, "https://huggingface.co");
  EXPECT_EQ(c->hf_home, "/home/u/.cache/huggingface");
  EXPECT_EQ(c->cache_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_FALSE(c->token.has_value());
  EXPECT_FALSE(c->offline);
}

TEST(HubConfig, ReadsEndpointHomeCacheAndToken) {
  auto c = HubConfig::FromEnvironment(Env({{"HF_ENDPOINT", "http://127.0.0.1:9/"},
                                           {"HF_HOME", "/hf"},
                                           {"HF_HUB_CACHE", "/cache"},
                                           {"HF_TOKEN", " hf_abc\n"},
                                           {"HF_HUB_OFFLINE", "1"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9");
  EXPECT_EQ(c->cache_dir, "/cache");
  EXPECT_EQ(c->token.value(), "hf_abc");
  EXPECT_TRUE(c->offline);
}

TEST(HubConfig, TokenFileUnderHfHome) {
  auto dir = std::filesystem::temp_directory_path() / "sdxl_hub_config_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "hf_from_file\n";
  auto c = HubConfig::FromEnvironment(Env({{"HF_HOME", dir.string()}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->token.value(), "hf_from_file");
  EXPECT_EQ(c->token_source, (dir / "token").string());
  // HF_TOKEN wins over the file.
  auto c2 = HubConfig::FromEnvironment(Env({{"HF_HOME", dir.string()}, {"HF_TOKEN", "hf_env"}}));
  EXPECT_EQ(c2->token.value(), "hf_env");
  std::filesystem::remove_all(dir);
}

TEST(HubConfig, RejectsBadEndpoint) {
  auto c = HubConfig::FromEnvironment(Env({{"HF_ENDPOINT", "huggingface.co"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("HF_ENDPOINT"), std::string::npos);
}

}  // namespace
}  // namespace sdxl::hub
