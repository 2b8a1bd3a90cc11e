#pragma once
// HubHttp: a small libcurl session used by the Hub client (one easy handle, so connections to the
// same host are reused). Redirects are NOT followed: the client decides per hop which headers
// may travel (the token never goes to another host). Not thread-safe: one session per thread.

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/hub_config.h"
#include "hub/hub_protocol.h"

namespace sdxl::hub {

struct HttpResponse {
  long status = 0;
  Headers headers;          // lower-cased names
  std::string body;         // error bodies and small answers (capped); 2xx bodies go to the sink
  uint64_t sink_bytes = 0;  // bytes handed to the sink
};

// Receives 2xx body bytes (with the response so far: status and headers); a non-OK status aborts
// the transfer and is returned by Get().
using BodySink =
    std::function<core::Status(const HttpResponse& resp, const char* data, size_t size)>;

class HubHttp {
 public:
  explicit HubHttp(const HubConfig& config);
  ~HubHttp();
  HubHttp(const HubHttp&) = delete;
  HubHttp& operator=(const HubHttp&) = delete;

  // GET (or HEAD) `url` with extra `headers` ("Name: value"). Transport failures come back as
  // retryable Unavailable/DeadlineExceeded. Body bytes of 2xx answers go to `sink` when given,
  // else into response.body (capped at 64 MiB).
  core::Result<HttpResponse> Get(const std::string& url, const std::vector<std::string>& headers,
                                 const BodySink* sink = nullptr, bool head = false);

 private:
  const HubConfig& config_;
  CURL* curl_ = nullptr;
};

// Scheme+host+port of an absolute URL ("https://host:443"), lower-cased; empty if not absolute.
std::string UrlOrigin(const std::string& url);
// Resolves a Location header against the URL that returned it.
std::string ResolveLocation(const std::string& base, const std::string& location);

}  // namespace sdxl::hub
