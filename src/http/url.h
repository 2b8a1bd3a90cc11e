#pragma once
// URL helpers with S3 rules: RFC 3986 percent-encoding of everything but the unreserved set
// (A-Z a-z 0-9 - . _ ~), never normalising paths ("//", "." and ".." stay as they are) and never
// encoding twice (callers pass raw, decoded text). Pure functions, thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sdxl::http {

// Percent-encodes every byte outside the unreserved set (uppercase hex). When keep_slash is true,
// '/' is kept (object keys in paths); otherwise it becomes %2F (query keys and values).
std::string UriEncode(std::string_view raw, bool keep_slash);
// Decodes %XX escapes (and nothing else: '+' stays '+'). Malformed escapes are an error.
core::Result<std::string> UriDecode(std::string_view encoded);

using QueryParams = std::vector<std::pair<std::string, std::string>>;  // raw key, raw value
// "a=1&b=&c=x%2Fy": keys and values encoded, sorted by encoded key then value (SigV4 order).
std::string CanonicalQueryString(const QueryParams& params);

// An absolute http(s) URL split into parts. `port` is 0 when the URL names none.
struct Url {
  std::string scheme;  // "http" or "https", lowercase
  std::string host;    // lowercase; IPv6 literals keep their brackets
  int port = 0;
  std::string path;   // as written (already encoded), "" when absent
  std::string query;  // after '?', as written

  // "host" or "host:port" when the port is not the scheme's default (the SigV4 Host value).
  std::string HostHeader() const;
  // scheme://HostHeader()
  std::string Origin() const;
};
core::Result<Url> ParseUrl(std::string_view url);

// Resolves a URI reference (e.g. a Location header: absolute, "//host/p", "/p", "p", "../p",
// "?q") against the absolute http(s) URL `base`, per RFC 3986 section 5.2 (dot segments of the
// merged path are removed; fragments are dropped). The result may name another scheme; callers
// that will send a request check it with ParseUrl.
core::Result<std::string> ResolveReference(std::string_view base, std::string_view reference);

// True when both absolute URLs have the same scheme, host and port (default ports folded:
// "https://h" and "https://H:443" are the same origin). False if either does not parse.
bool SameOrigin(std::string_view a, std::string_view b);

// True for IPv4/IPv6 literals and "localhost" (such endpoints cannot do virtual-hosted buckets).
bool IsIpOrLocalhost(std::string_view host);

}  // namespace sdxl::http
