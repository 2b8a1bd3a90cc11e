#include "hub/hub_protocol.h"

#include <gtest/gtest.h>

namespace sdxl::hub {
namespace {

TEST(HubProtocol, QuoteAndUrls) {
  EXPECT_EQ(RevisionUrl("https://h", "a/b", "refs/pr/2"),
            "https://h/api/models/a/b/revision/refs%2Fpr%2F2");
  EXPECT_EQ(TreeUrl("https://h", "a/b", "main"),
            "https://h/api/models/a/b/tree/main?recursive=true&expand=false");
  EXPECT_EQ(ResolveUrl("https://h", "a/b", "0123", "vae/x y.json"),
            "https://h/a/b/resolve/0123/vae/x%20y.json");
  EXPECT_EQ(ResolveUrl("https://h", "a/b", "refs/pr/1", "unet/a+b~c.safetensors"),
            "https://h/a/b/resolve/refs%2Fpr%2F1/unet/a%2Bb~c.safetensors");
  EXPECT_EQ(RepoFolderName("ByteDance/SDXL-Lightning"), "models--ByteDance--SDXL-Lightning");
  EXPECT_EQ(RepoFolderName("gpt2"), "models--gpt2");
}

TEST(HubProtocol, ValidatesRepoIds) {
  EXPECT_TRUE(ValidateRepoId("ByteDance/SDXL-Lightning").ok());
  EXPECT_TRUE(ValidateRepoId("gpt2").ok());
  EXPECT_TRUE(ValidateRepoId("KBlueLeaf/Kohaku-XL-Zeta").ok());
  for (const char* bad : {"", "a/b/c", "a--b/c", "a/b..c", "-a/b", "a/b.", "a b/c", "/abc", "a/"}) {
    auto s = ValidateRepoId(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), core::Code::kInvalidArgument);
  }
}

TEST(HubProtocol, LinkNext) {
  EXPECT_EQ(ParseLinkNext("<https://h/api/x?cursor=abc>; rel=\"next\"").value(),
            "https://h/api/x?cursor=abc");
  EXPECT_EQ(ParseLinkNext("<https://h/p1>; rel=\"prev\", <https://h/p3>; rel=\"next\"").value(),
            "https://h/p3");
  EXPECT_FALSE(ParseLinkNext("<https://h/p1>; rel=\"prev\"").has_value());
  EXPECT_FALSE(ParseLinkNext("").has_value());
}

TEST(HubProtocol, EtagsAndRetryableStatuses) {
  EXPECT_EQ(NormalizeEtag("W/\"abc\""), "abc");
  EXPECT_EQ(NormalizeEtag("\"abc\""), "abc");
  EXPECT_EQ(NormalizeEtag("abc"), "abc");
  EXPECT_TRUE(IsRetryableHttpStatus(429));
  EXPECT_TRUE(IsRetryableHttpStatus(503));
  EXPECT_FALSE(IsRetryableHttpStatus(404));
  EXPECT_FALSE(IsRetryableHttpStatus(501));
}

TEST(HubProtocol, ParsesTreePages) {
  auto files = ParseTreePage(R"([
    {"type":"directory","oid":"d","size":0,"path":"unet"},
    {"type":"file","oid":"1111","size":12,"path":"model_index.json"},
    {"type":"file","oid":"2222","size":134,"path":"unet/w.safetensors",
     "lfs":{"oid":"abcd","size":5000,"pointerSize":134}}])");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].etag(), "1111");
  EXPECT_EQ((*files)[1].size, 5000u);
  EXPECT_EQ((*files)[1].etag(), "abcd");
  EXPECT_FALSE(ParseTreePage("{}").ok());
  EXPECT_FALSE(ParseTreePage("[{\"type\":\"file\",\"path\":\"../x\"}]").ok());
  EXPECT_FALSE(ParseTreePage("not json").ok());
  EXPECT_EQ(ParseRevisionCommit(R"({"sha":"0123456789abcdef0123456789abcdef01234567"})").value(),
            "0123456789abcdef0123456789abcdef01234567");
  EXPECT_FALSE(ParseRevisionCommit(R"({"sha":"short"})").ok());
}

// Found by fuzz/hub_json_fuzz.cc: a size that is not a non-negative integer was converted with
// get<uint64_t>() (undefined behaviour for 1e30, a huge size for -1). It is a malformed listing.
TEST(HubProtocol, TreePageRejectsSizesThatAreNotUnsignedIntegers) {
  for (const char* size : {"1e30", "-1e30", "-1", "1.5", "\"12\"", "null"}) {
    for (const std::string& entry :
         {std::string(R"({"type":"file","oid":"x","path":"a.bin","size":)") + size + "}",
          std::string(
              R"({"type":"file","oid":"x","path":"a.bin","size":1,"lfs":{"oid":"y","size":)") +
              size + "}}"}) {
      auto files = ParseTreePage("[" + entry + "]");
      ASSERT_FALSE(files.ok()) << entry;
      EXPECT_EQ(files.status().code(), core::Code::kDataLoss) << entry;
      EXPECT_NE(files.status().message().find("a.bin"), std::string::npos) << entry;
    }
  }
  auto zero = ParseTreePage(R"([{"type":"file","oid":"x","path":"a.bin","size":0}])");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ((*zero)[0].size, 0u);
}

TEST(HubProtocol, ErrorMessagesSayWhatToDo) {
  RequestContext ctx{"https://huggingface.co", "org/m", "v2", "", false};
  auto gated = ErrorForResponse(403, {{"X-Error-Code", "GatedRepo"}}, ctx);  // any case
  EXPECT_EQ(gated.code(), core::Code::kPermissionDenied);
  EXPECT_NE(gated.message().find("ask for access at https://huggingface.co/org/m"),
            std::string::npos);
  auto gated401 = ErrorForResponse(401, {{"x-error-code", "GatedRepo"}}, ctx);
  EXPECT_EQ(gated401.code(), core::Code::kPermissionDenied);
  auto priv = ErrorForResponse(401, {{"x-error-code", "RepoNotFound"}}, ctx);
  EXPECT_EQ(priv.code(), core::Code::kNotFound);
  EXPECT_NE(priv.message().find("check the name"), std::string::npos);
  EXPECT_NE(priv.message().find("HF_TOKEN"), std::string::npos);
  auto bad_token = ErrorForResponse(
      401, {{"x-error-message", "Invalid credentials in Authorization header"}}, ctx);
  EXPECT_EQ(bad_token.code(), core::Code::kUnauthenticated);
  auto rev = ErrorForResponse(404, {{"x-error-code", "RevisionNotFound"}}, ctx);
  EXPECT_EQ(rev.code(), core::Code::kNotFound);
  EXPECT_NE(rev.message().find("revision 'v2'"), std::string::npos);
  ctx.path = "unet/x.safetensors";
  auto entry = ErrorForResponse(404, {{"x-error-code", "EntryNotFound"}}, ctx);
  EXPECT_NE(entry.message().find("file 'unet/x.safetensors'"), std::string::npos);
  auto limited = ErrorForResponse(429, {}, ctx);
  EXPECT_TRUE(limited.retryable());
  EXPECT_EQ(limited.http_status(), 429);
  EXPECT_TRUE(ErrorForResponse(502, {}, ctx).retryable());
}

}  // namespace
}  // namespace sdxl::hub
