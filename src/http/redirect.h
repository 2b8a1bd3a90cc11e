#pragma once
// Following HTTP redirects by hand, so that what travels to each hop is decided here and not by
// libcurl: credentials given for the first URL (Authorization, Proxy-Authorization, Cookie) are
// dropped from the first hop that leaves the request's origin on (e.g. a Hub -> CDN redirect to a
// signed URL) and never sent again, and only http(s) targets are followed.
// Thread-safe as HttpClient is; the functions hold no state.

#include <atomic>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http_client.h"

namespace sdxl::http {

// 301, 302, 303, 307 and 308.
bool IsRedirectStatus(int status);

// True for headers that carry credentials and must not follow a redirect to another origin.
bool IsCredentialHeader(std::string_view name);

// `url` without its query and fragment ("https://cdn/x?X-Amz-Signature=..." -> "https://cdn/x"),
// for messages: signed URLs learned from a Location header must not end up in logs.
std::string RedactUrl(std::string_view url);

struct RedirectedResponse {
  HttpResponse response;  // the final answer (2xx, an error, or a 3xx without Location)
  std::string url;        // the URL that gave it
  int redirects = 0;      // hops followed
};

// Sends `request` and follows redirect answers that carry a Location header, at most
// `max_redirects` times; only body-less requests (GET, HEAD) are followed, others get the 3xx
// back. Each hop keeps the method and headers, less the credential headers once a hop has left
// the first URL's origin. The sink and request.on_body_start only ever see the final 2xx answer.
// Errors: transport failures as HttpClient::Send (the URL of a redirected hop is redacted),
// InvalidArgument for a Location that is not an http(s) URL, Unavailable (retryable) for too
// many redirects.
core::Result<RedirectedResponse> SendFollowingRedirects(HttpClient& client, HttpRequest request,
                                                        const BodySink* sink = nullptr,
                                                        const std::atomic<bool>* cancel = nullptr,
                                                        int max_redirects = 10);

}  // namespace sdxl::http
