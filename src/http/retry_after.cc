#include "http/retry_after.h"

#include <cctype>
#include <string>

namespace sdxl::http {
namespace {

// Leading decimal digits of `s` as seconds (at most 10 digits), or nullopt.
std::optional<std::chrono::seconds> LeadingSeconds(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && n < 10 && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
  if (n == 0) return std::nullopt;
  return std::chrono::seconds(std::stoll(std::string(s.substr(0, n))));
}

}  // namespace

std::optional<std::chrono::seconds> RequestedRetryDelay(const Headers& headers) {
  if (auto rl = FindHeader(headers, "RateLimit")) {
    const size_t t = rl->find(";t=");
    if (t != std::string::npos) {
      if (auto s = LeadingSeconds(std::string_view(*rl).substr(t + 3))) return s;
    }
  }
  if (auto ra = FindHeader(headers, "Retry-After")) {
    std::string_view v = *ra;
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    // delta-seconds only: an HTTP-date ("Wed, 21 Oct 2015 ...") starts with a letter.
    return LeadingSeconds(v);
  }
  return std::nullopt;
}

}  // namespace sdxl::http
