#include "serve/playground.h"

#include <gtest/gtest.h>

#include <string>

namespace sdxl::serve {
namespace {

TEST(Playground, PageIsEmbeddedAndSelfContained) {
  const std::string_view page = PlaygroundHtml();
  ASSERT_GT(page.size(), 1000u);
  EXPECT_EQ(page.substr(0, 15), "<!doctype html>");
  EXPECT_NE(page.find("<script>"), std::string_view::npos);
  EXPECT_NE(page.find("</html>"), std::string_view::npos);
  // Nothing from another origin: no absolute URL anywhere (CDNs, fonts, analytics).
  EXPECT_EQ(page.find("://"), std::string_view::npos);
  EXPECT_EQ(page.find("@import"), std::string_view::npos);
}

TEST(Playground, PageNeverParsesStringsAsHtml) {
  // Prompts, logs and errors reach the DOM through textContent only (browser test: XSS).
  const std::string_view page = PlaygroundHtml();
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                           "eval(", "new Function", "srcdoc", "DOMParser"}) {
    EXPECT_EQ(page.find(sink), std::string_view::npos) << sink;
  }
}

TEST(Playground, CspAllowsOnlyTheInlineScriptAndStyleByHash) {
  const std::string csp = ContentSecurityPolicy("<style>a</style><p>hi</p><script>x</script>");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"),
            std::string::npos)
      << csp;
  EXPECT_NE(csp.find("style-src 'sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs='"),
            std::string::npos)
      << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(ContentSecurityPolicy("<p>no script</p>"), "");
}

TEST(Playground, HeadersCarryThePagesCsp) {
  const auto& headers = PlaygroundHeaders();
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(headers[0].first, "Content-Security-Policy");
  EXPECT_EQ(headers[0].second, ContentSecurityPolicy(PlaygroundHtml()));
  EXPECT_NE(headers[0].second.find("script-src 'sha256-"), std::string::npos);
}

}  // namespace
}  // namespace sdxl::serve
