#include "http/redirect.h"

#include <strings.h>

#include <algorithm>

#include "http/url.h"

namespace sdxl::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Replaces every occurrence of `url` in the status message by its redacted form.
core::Status RedactIn(const core::Status& status, const std::string& url) {
  const std::string redacted = RedactUrl(url);
  if (redacted == url) return status;
  std::string message = status.message();
  for (size_t pos = message.find(url); pos != std::string::npos;
       pos = message.find(url, pos + redacted.size())) {
    message.replace(pos, url.size(), redacted);
  }
  core::Status out(status.code(), std::move(message), status.retryable());
  if (status.http_status() != 0) out.WithHttp(status.http_status(), status.service_code());
  return out;
}

}  // namespace

bool IsRedirectStatus(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool IsCredentialHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "Authorization") || EqualsIgnoreCase(name, "Proxy-Authorization") ||
         EqualsIgnoreCase(name, "Cookie");
}

std::string RedactUrl(std::string_view url) {
  return std::string(url.substr(0, url.find_first_of("?#")));
}

core::Result<RedirectedResponse> SendFollowingRedirects(HttpClient& client, HttpRequest request,
                                                        const BodySink* sink,
                                                        const std::atomic<bool>* cancel,
                                                        int max_redirects) {
  const std::string first_url = request.url;
  const bool followable =
      request.body.empty() && (request.head || request.method == "GET" || request.method == "HEAD");
  for (int hop = 0;; ++hop) {
    auto sent = client.Send(request, sink, cancel);
    if (!sent.ok()) return hop == 0 ? sent.status() : RedactIn(sent.status(), request.url);
    HttpResponse& response = *sent;
    auto location = response.Header("Location");
    if (!followable || !IsRedirectStatus(response.status) || !location) {
      return RedirectedResponse{std::move(response), std::move(request.url), hop};
    }
    if (hop >= max_redirects) {
      return core::Unavailable("too many redirects (more than " + std::to_string(max_redirects) +
                               ") starting at " + RedactUrl(first_url));
    }
    SDXL_ASSIGN_OR_RETURN(std::string next, ResolveReference(request.url, *location));
    if (!ParseUrl(next).ok()) {
      return core::InvalidArgument("refusing to follow a redirect from " + RedactUrl(request.url) +
                                   " to " + RedactUrl(next) + ": not a plain http(s) URL");
    }
    if (!SameOrigin(next, first_url)) {
      // Gone for good: a later hop back to the first origin does not get them again.
      auto& h = request.headers;
      h.erase(std::remove_if(h.begin(), h.end(),
                             [](const auto& kv) { return IsCredentialHeader(kv.first); }),
              h.end());
    }
    request.url = std::move(next);
  }
}

}  // namespace sdxl::http
