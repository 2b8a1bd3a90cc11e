#include "serve/playground.h"

#include <openssl/evp.h>

#include <optional>

#include "core/hash.h"

namespace sdxl::serve {
namespace {

// The text of the first <tag>...</tag> element (the tag written without attributes), or nullopt.
std::optional<std::string_view> ElementText(std::string_view html, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const size_t begin = html.find(open);
  if (begin == std::string_view::npos) return std::nullopt;
  const size_t text = begin + open.size();
  const size_t end = html.find(close, text);
  if (end == std::string_view::npos) return std::nullopt;
  return html.substr(text, end - text);
}

// 'sha256-<base64>' for a CSP source list.
std::string HashSource(std::string_view text) {
  core::Sha256 h;
  h.Update(text);
  const core::Sha256Digest digest = h.Finish();
  unsigned char b64[4 * ((sizeof(digest) + 2) / 3) + 1] = {};
  EVP_EncodeBlock(b64, digest.data(), static_cast<int>(digest.size()));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64)) + "'";
}

}  // namespace

std::string ContentSecurityPolicy(std::string_view html) {
  const auto script = ElementText(html, "script");
  if (!script) return {};
  const auto style = ElementText(html, "style");
  return "default-src 'none'; script-src " + HashSource(*script) + "; style-src " +
         (style ? HashSource(*style) : std::string("'none'")) +
         "; img-src data: blob: http: https:; connect-src 'self'; base-uri 'none'; "
         "form-action 'none'; frame-ancestors 'none'";
}

const std::vector<std::pair<std::string, std::string>>& PlaygroundHeaders() {
  static const auto* headers = new std::vector<std::pair<std::string, std::string>>{
      {"Content-Security-Policy", ContentSecurityPolicy(PlaygroundHtml())},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-cache"},
  };
  return *headers;
}

}  // namespace sdxl::serve
