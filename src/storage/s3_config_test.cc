#include "storage/s3_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace sdxl::storage {
namespace {

namespace fs = std::filesystem;

S3Overrides Ov(std::string endpoint, std::string region, std::string profile,
               std::optional<AddressingStyle> style = std::nullopt) {
  S3Overrides o;
  o.endpoint_url = std::move(endpoint);
  o.region = std::move(region);
  o.profile = std::move(profile);
  o.addressing_style = style;
  return o;
}

class S3ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("s3config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / ".aws");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / ".aws" / name) << text;
  }
  core::Environment Env(std::map<std::string, std::string> vars) {
    vars["HOME"] = dir_.string();
    return core::Environment(vars);
  }
  fs::path dir_;
};

TEST_F(S3ConfigTest, EnvironmentVariables) {
  auto c = S3Config::Load(Env({{"AWS_ACCESS_KEY_ID", "AK"},
                               {"AWS_SECRET_ACCESS_KEY", "SK"},
                               {"AWS_SESSION_TOKEN", "TOK"},
                               {"AWS_REGION", "auto"},
                               {"AWS_DEFAULT_REGION", "eu-west-1"},
                               {"AWS_ENDPOINT_URL", "https://global.example"},
                               {"AWS_ENDPOINT_URL_S3", "https://t3.storage.dev/"}}),
                          {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AK");
  EXPECT_EQ(c->credentials.secret_access_key, "SK");
  EXPECT_EQ(c->credentials.session_token, "TOK");
  EXPECT_EQ(c->region, "auto");                          // AWS_REGION wins
  EXPECT_EQ(c->endpoint_url, "https://t3.storage.dev");  // _S3 wins, trailing '/' dropped
  EXPECT_TRUE(c->RequireCredentials().ok());
  EXPECT_FALSE(c->UsePathStyle("my-bucket"));  // virtual-hosted by default
}

TEST_F(S3ConfigTest, DefaultRegionAndGlobalEndpointFallbacks) {
  auto c = S3Config::Load(
      Env({{"AWS_DEFAULT_REGION", "eu-west-1"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:8333"}}),
      {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->endpoint_url, "http://127.0.0.1:8333");
  EXPECT_TRUE(c->UsePathStyle("bucket"));  // IP endpoint: path style
}

TEST_F(S3ConfigTest, MissingCredentialsSayWhatToSet) {
  auto c = S3Config::Load(Env({}), {});
  ASSERT_TRUE(c.ok());
  const core::Status st = c->RequireCredentials();
  EXPECT_EQ(st.code(), core::Code::kUnauthenticated);
  EXPECT_NE(st.message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(st.message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
  EXPECT_EQ(c->EffectiveEndpoint(), "https://s3.amazonaws.com");
}

TEST_F(S3ConfigTest, SharedFilesProfilesAndNestedS3Block) {
  Write("credentials",
        "[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = DEFSECRET\n"
        "[tigris]\naws_access_key_id=TKEY\naws_secret_access_key=TSECRET\n"
        "endpoint_url = https://fly.storage.tigris.dev\n");
  Write("config",
        "# comment\n[default]\nregion = us-west-2\n"
        "[profile tigris]\nregion = auto\ns3 =\n  endpoint_url = https://t3.storage.dev\n"
        "  addressing_style = path\n"
        "[profile svc]\nservices = local\naws_access_key_id=SVCKEY\naws_secret_access_key=S\n"
        "[services local]\ns3 =\n  endpoint_url = http://localhost:9000\n");
  auto d = S3Config::Load(Env({}), {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->credentials.access_key_id, "DEFKEY");
  EXPECT_EQ(d->region, "us-west-2");
  EXPECT_EQ(d->EffectiveEndpoint(), "https://s3.us-west-2.amazonaws.com");

  auto t = S3Config::Load(Env({{"AWS_PROFILE", "tigris"}}), {});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->credentials.access_key_id, "TKEY");
  EXPECT_EQ(t->region, "auto");
  EXPECT_EQ(t->endpoint_url, "https://t3.storage.dev");  // nested s3 block beats endpoint_url
  EXPECT_EQ(t->addressing_style, AddressingStyle::kPath);

  auto s = S3Config::Load(Env({}), Ov("", "", "svc"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->credentials.access_key_id, "SVCKEY");
  EXPECT_EQ(s->endpoint_url, "http://localhost:9000");

  auto missing = S3Config::Load(Env({{"AWS_PROFILE", "nope"}}), {});
  EXPECT_EQ(missing.status().code(), core::Code::kInvalidArgument);
}

TEST_F(S3ConfigTest, ExplicitFilesAndPrecedence) {
  const fs::path creds = dir_ / "other-creds";
  std::ofstream(creds) << "[default]\naws_access_key_id=FILEKEY\naws_secret_access_key=FS\n"
                          "aws_session_token=FT\n";
  // The environment beats the files...
  auto a = S3Config::Load(Env({{"AWS_SHARED_CREDENTIALS_FILE", creds.string()},
                               {"AWS_ACCESS_KEY_ID", "ENVKEY"},
                               {"AWS_SECRET_ACCESS_KEY", "ES"}}),
                          {});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(a->credentials.session_token, "");
  // ...unless a profile is named on the command line.
  auto b = S3Config::Load(Env({{"AWS_SHARED_CREDENTIALS_FILE", creds.string()},
                               {"AWS_ACCESS_KEY_ID", "ENVKEY"},
                               {"AWS_SECRET_ACCESS_KEY", "ES"}}),
                          Ov("", "", "default"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->credentials.access_key_id, "FILEKEY");
  EXPECT_EQ(b->credentials.session_token, "FT");
  // Flags beat everything.
  auto c = S3Config::Load(Env({{"AWS_REGION", "x"}, {"AWS_ENDPOINT_URL_S3", "http://a"}}),
                          Ov("http://b:1", "y", ""));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint_url, "http://b:1");
  EXPECT_EQ(c->region, "y");
}

TEST_F(S3ConfigTest, CaBundleFromEnvironmentOverProfile) {
  Write("config", "[default]\nca_bundle = /etc/ssl/private-ca.pem\n");
  auto from_profile = S3Config::Load(Env({}), {});
  ASSERT_TRUE(from_profile.ok());
  EXPECT_EQ(from_profile->ca_bundle, "/etc/ssl/private-ca.pem");
  auto from_env = S3Config::Load(Env({{"AWS_CA_BUNDLE", "/tmp/ca.pem"}}), {});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->ca_bundle, "/tmp/ca.pem");
  fs::remove(dir_ / ".aws" / "config");
  auto none = S3Config::Load(Env({}), {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->ca_bundle, "");
}

TEST_F(S3ConfigTest, AddressingStyle) {
  auto v = S3Config::Load(
      Env({{"AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1"}, {"AWS_S3_ADDRESSING_STYLE", "virtual"}}),
      {});
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->UsePathStyle("b"));
  auto p = S3Config::Load(Env({{"AWS_ENDPOINT_URL_S3", "https://t3.storage.dev"}}),
                          Ov("", "", "", AddressingStyle::kPath));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->UsePathStyle("b"));
  auto a = S3Config::Load(Env({{"AWS_ENDPOINT_URL_S3", "https://t3.storage.dev"}}), {});
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->UsePathStyle("my-models"));
  EXPECT_TRUE(a->UsePathStyle("my.models"));  // dots break the TLS wildcard
  EXPECT_TRUE(a->UsePathStyle("My_Models"));  // not a DNS label
  EXPECT_FALSE(S3Config::Load(Env({{"AWS_S3_ADDRESSING_STYLE", "sideways"}}), {}).ok());
  EXPECT_FALSE(S3Config::Load(Env({{"AWS_MAX_ATTEMPTS", "zero"}}), {}).ok());
  EXPECT_EQ(S3Config::Load(Env({{"AWS_MAX_ATTEMPTS", "7"}}), {})->max_attempts, 7);
  EXPECT_FALSE(S3Config::Load(Env({{"AWS_ENDPOINT_URL_S3", "t3.storage.dev"}}), {}).ok());
}

TEST_F(S3ConfigTest, CredentialsSourceNamesTheVariablesOrTheProfileAndItsFile) {
  Write("credentials", "[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n");
  Write("config", "[profile work]\naws_access_key_id = AK2\naws_secret_access_key = S2\n");
  const std::string creds = (dir_ / ".aws" / "credentials").string();
  const std::string config = (dir_ / ".aws" / "config").string();
  auto env =
      S3Config::Load(Env({{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}}), {});
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->credentials_source,
            "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  auto def = S3Config::Load(Env({}), {});
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->credentials_source, "profile \"default\" in " + creds);
  auto by_env = S3Config::Load(Env({{"AWS_PROFILE", "work"}}), {});
  ASSERT_TRUE(by_env.ok());
  EXPECT_EQ(by_env->credentials_source, "profile \"work\" in " + config + " (AWS_PROFILE)");
  // --profile beats the environment's keys, and says so.
  auto by_flag = S3Config::Load(Env({{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}}),
                                Ov("", "", "work"));
  ASSERT_TRUE(by_flag.ok());
  EXPECT_EQ(by_flag->credentials.access_key_id, "AK2");
  EXPECT_EQ(by_flag->credentials_source, "profile \"work\" in " + config + " (--profile)");
}

TEST(AwsIni, ParsesSectionsCommentsAndNestedBlocks) {
  const AwsIniFile ini = ParseAwsIni(
      "; c\n[a]\nk = v \r\nempty =\n[profile b]\ns3 =\n    endpoint_url = http://x\n"
      "    max_concurrent_requests = 20\nregion=r\n");
  EXPECT_EQ(ini.at("a").at("k"), "v");
  EXPECT_EQ(ini.at("profile b").at("s3.endpoint_url"), "http://x");
  EXPECT_EQ(ini.at("profile b").at("s3.max_concurrent_requests"), "20");
  EXPECT_EQ(ini.at("profile b").at("region"), "r");
}

}  // namespace
}  // namespace sdxl::storage
