// libFuzzer target: URL parsing (http/url.h: ParseUrl, ResolveReference for Location headers,
// percent-decoding) and s3://BUCKET/PATH model locations (loader/model_ref.h). The input is
// "<base>\n<reference>"; without a newline both are the whole input.
// Invariants: a parsed URL re-serializes and parses to the same fields; its origin parses to the
// same origin; UriEncode -> UriDecode is the identity and encodes to [A-Za-z0-9-._~%/] only; a
// relative reference resolves to a URL of the base's origin; a parsed model location passes
// ValidateModelRef and its URI parses back to the same bucket and prefix.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "core/environment.h"
#include "http/url.h"
#include "loader/model_ref.h"

namespace {

using namespace sdxl;

void Check(bool ok) {
  if (!ok) std::abort();
}

std::string Serialize(const http::Url& u) {
  std::string out = u.scheme + "://" + u.host;
  if (u.port != 0) out += ":" + std::to_string(u.port);
  out += u.path;
  if (!u.query.empty()) out += "?" + u.query;
  return out;
}

void CheckUrl(std::string_view text) {
  auto url = http::ParseUrl(text);
  if (!url.ok()) {
    Check(!url.status().message().empty());
    return;
  }
  Check(url->scheme == "http" || url->scheme == "https");
  Check(!url->host.empty());
  Check(url->port >= 0 && url->port <= 65535);
  auto again = http::ParseUrl(Serialize(*url));
  Check(again.ok());
  Check(again->scheme == url->scheme && again->host == url->host && again->port == url->port &&
        again->path == url->path && again->query == url->query);
  auto origin = http::ParseUrl(url->Origin());
  Check(origin.ok() && origin->Origin() == url->Origin());
  Check(http::SameOrigin(text, url->Origin()));
  (void)http::IsIpOrLocalhost(url->host);
}

void CheckEncoding(std::string_view raw) {
  for (bool keep_slash : {false, true}) {
    const std::string enc = http::UriEncode(raw, keep_slash);
    for (unsigned char c : enc) {
      Check(std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%' ||
            (keep_slash && c == '/'));
    }
    auto dec = http::UriDecode(enc);
    Check(dec.ok() && *dec == raw);
  }
  (void)http::UriDecode(raw);
}

// True when `ref` has a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":").
bool HasScheme(std::string_view ref) {
  const size_t colon = ref.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (ref.find_first_of("/?#") < colon) return false;
  if (!std::isalpha(static_cast<unsigned char>(ref.front()))) return false;
  for (unsigned char c : ref.substr(0, colon)) {
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

void CheckResolve(std::string_view base, std::string_view ref) {
  auto resolved = http::ResolveReference(base, ref);
  if (!resolved.ok()) return;
  const std::string_view no_fragment = ref.substr(0, ref.find('#'));
  if (HasScheme(no_fragment) || no_fragment.starts_with("//")) return;
  // A relative reference (a Location header such as "/p" or "../p") stays on the base's origin.
  auto b = http::ParseUrl(base.substr(0, base.find('#')));
  auto r = http::ParseUrl(*resolved);
  Check(b.ok() && r.ok() && r->Origin() == b->Origin());
}

void CheckModelRef(const loader::ModelRef& ref) {
  Check(loader::ValidateModelRef(ref).ok());
  auto back = loader::ParseModelRef(loader::ToUri(ref));
  Check(back.ok() && back->bucket == ref.bucket && back->prefix == ref.prefix);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  const std::string_view base = nl == std::string_view::npos ? text : text.substr(0, nl);
  const std::string_view ref = nl == std::string_view::npos ? text : text.substr(nl + 1);

  CheckUrl(text);
  CheckUrl(base);
  CheckUrl(ref);
  CheckEncoding(text);
  CheckResolve(base, ref);

  if (auto model = loader::ParseModelRef(text); model.ok()) {
    CheckModelRef(*model);
  } else {
    Check(!model.status().message().empty());
  }
  const core::Environment env(std::map<std::string, std::string>{
      {"MODEL_BUCKET_NAME", std::string(base)}, {"MODEL_PATH", std::string(ref)}});
  if (auto model = loader::ModelRefFromEnvironment(env); model.ok()) CheckModelRef(*model);
  return 0;
}
