#include "http/url.h"

#include <arpa/inet.h>
#include <algorithm>
#include <cctype>

namespace sdxl::http {
namespace {

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string UriEncode(std::string_view raw, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size() + raw.size() / 2);
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

core::Result<std::string> UriDecode(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out.push_back(encoded[i]);
      continue;
    }
    if (i + 2 >= encoded.size()) {
      return core::InvalidArgument("malformed percent-escape at the end of \"" +
                                   std::string(encoded) + "\"");
    }
    const int hi = HexValue(encoded[i + 1]);
    const int lo = HexValue(encoded[i + 2]);
    if (hi < 0 || lo < 0) {
      return core::InvalidArgument("malformed percent-escape in \"" + std::string(encoded) + "\"");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string CanonicalQueryString(const QueryParams& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [k, v] : params) encoded.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string Url::HostHeader() const {
  const bool default_port =
      port == 0 || (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  return default_port ? host : host + ":" + std::to_string(port);
}

std::string Url::Origin() const { return scheme + "://" + HostHeader(); }

core::Result<Url> ParseUrl(std::string_view text) {
  Url url;
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return core::InvalidArgument("URL \"" + std::string(text) +
                                 "\" has no scheme; write it as http://host[:port] or https://...");
  }
  url.scheme = Lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return core::InvalidArgument("URL \"" + std::string(text) +
                                 "\" must start with http:// or https://");
  }
  std::string_view rest = text.substr(sep + 3);
  const size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view tail = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) {
    return core::InvalidArgument("URL \"" + std::string(text) +
                                 "\" must not contain user:password@; use credentials instead");
  }
  std::string_view host_part = authority;
  std::string_view port_part;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return core::InvalidArgument("URL \"" + std::string(text) + "\" has an unclosed [IPv6]");
    }
    host_part = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return core::InvalidArgument("URL \"" + std::string(text) + "\" has a malformed host");
      }
      port_part = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host_part = authority.substr(0, colon);
    port_part = authority.substr(colon + 1);
  }
  if (host_part.empty()) {
    return core::InvalidArgument("URL \"" + std::string(text) + "\" has no host");
  }
  // Only a [bracketed] IPv6 host may hold ':'. Otherwise "http://h::" would be host "h:", which
  // serializes as "http://h:" and parses back as host "h" (found by fuzz/url_fuzz.cc).
  if (host_part.front() != '[' && host_part.find(':') != std::string_view::npos) {
    return core::InvalidArgument("URL \"" + std::string(text) +
                                 "\" has a malformed host (IPv6 addresses go in [brackets])");
  }
  url.host = Lower(host_part);
  if (!port_part.empty()) {
    int port = 0;
    for (char c : port_part) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535) {
        return core::InvalidArgument("URL \"" + std::string(text) + "\" has an invalid port");
      }
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) {
      return core::InvalidArgument("URL \"" + std::string(text) + "\" has an invalid port");
    }
    url.port = port;
  }
  const size_t q = tail.find('?');
  url.path = std::string(tail.substr(0, q));
  if (q != std::string_view::npos) url.query = std::string(tail.substr(q + 1));
  return url;
}

namespace {

// RFC 3986 5.2.4.
std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      const size_t slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const size_t next = in.find('/', in.front() == '/' ? 1 : 0);
      const size_t n = next == std::string_view::npos ? in.size() : next;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

// The scheme of a reference ("https" in "https://x"), or empty when it has none.
std::string_view SchemeOf(std::string_view ref) {
  const size_t colon = ref.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  if (ref.find_first_of("/?#") < colon) return {};
  if (!std::isalpha(static_cast<unsigned char>(ref.front()))) return {};
  for (char c : ref.substr(0, colon)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return {};
  }
  return ref.substr(0, colon);
}

}  // namespace

core::Result<std::string> ResolveReference(std::string_view base, std::string_view reference) {
  const size_t hash = reference.find('#');
  std::string_view ref = reference.substr(0, hash);
  if (!SchemeOf(ref).empty()) return std::string(ref);
  const size_t base_hash = base.find('#');
  SDXL_ASSIGN_OR_RETURN(Url b, ParseUrl(base.substr(0, base_hash)));
  if (ref.starts_with("//")) return b.scheme + ":" + std::string(ref);
  const std::string origin = b.Origin();
  if (ref.empty()) return origin + b.path + (b.query.empty() ? "" : "?" + b.query);
  if (ref.front() == '?') return origin + b.path + std::string(ref);
  const size_t q = ref.find('?');
  std::string_view ref_path = ref.substr(0, q);
  std::string_view ref_query = q == std::string_view::npos ? "" : ref.substr(q);
  std::string merged;
  if (ref_path.front() == '/') {
    merged = std::string(ref_path);
  } else {
    const std::string base_path = b.path.empty() ? "/" : b.path;
    merged = base_path.substr(0, base_path.rfind('/') + 1) + std::string(ref_path);
  }
  return origin + RemoveDotSegments(merged) + std::string(ref_query);
}

bool SameOrigin(std::string_view a, std::string_view b) {
  auto ua = ParseUrl(a);
  auto ub = ParseUrl(b);
  return ua.ok() && ub.ok() && ua->Origin() == ub->Origin();
}

bool IsIpOrLocalhost(std::string_view host) {
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  if (!host.empty() && host.front() == '[') return true;
  std::string h(host);
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, h.c_str(), &v4) == 1 || inet_pton(AF_INET6, h.c_str(), &v6) == 1;
}

}  // namespace sdxl::http
