#pragma once
// HttpClient: a libcurl transport. Thread-safe: any number of threads may Send() at once; each
// call borrows an easy handle from a pool (so connections, TLS sessions and DNS results are reused
// across requests) and returns it afterwards. Stalls are detected with a low-speed limit (bytes per
// second over a window) instead of a total timeout, so multi-GiB bodies never time out while they
// flow. Response bodies go to the caller's sink straight from curl's buffer (no copies) for 2xx
// statuses; other statuses are captured in HttpResponse::body for error parsing.
// This layer does not retry; see RetryPolicy.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "http/body_buffer.h"

namespace sdxl::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup (first match).
std::optional<std::string> FindHeader(const Headers& headers, std::string_view name);

struct HttpResponse;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute, already encoded
  Headers headers;
  std::string_view body;  // request body (not owned; must outlive Send)
  bool head = false;      // HEAD: no response body expected
  // Optional: called once with the status and headers of a 2xx response, just before its first
  // body byte is delivered (not at all for an empty body). Lets a receiver check what it got
  // (e.g. 206 vs 200 for a Range request) before any byte reaches the sink. Returning false
  // aborts the transfer like a sink does (Send returns Cancelled).
  std::function<bool(const HttpResponse& head)> on_body_start;
  // Optional: where a 2xx body may be received directly (GET only; see BodyBuffer). The sink
  // passed to Send must still be given: it is used whenever the direct path is not.
  const BodyBuffer* direct_body = nullptr;
};

struct HttpResponse {
  int status = 0;
  Headers headers;               // names as sent by the server
  std::string body;              // the body, unless it went to a sink
  std::uint64_t sink_bytes = 0;  // bytes delivered to the sink

  // Case-insensitive header lookup (first match).
  std::optional<std::string> Header(std::string_view name) const;
};

// Receives body bytes in order; returns false to abort the transfer (Send then returns the
// status stored by the sink's owner, or Cancelled).
using BodySink = std::function<bool(std::string_view chunk)>;

struct HttpClientOptions {
  long connect_timeout_ms = 10000;
  long low_speed_limit_bytes = 1024;  // abort when slower than this ...
  long low_speed_time_s = 20;         // ... for this many seconds
  long receive_buffer_bytes = 256 * 1024;
  bool verbose = false;  // curl debug output on stderr
  // PEM file of the certificate authorities to trust for https (AWS_CA_BUNDLE); empty: the
  // system store.
  std::string ca_bundle;
  // Receive GET bodies offered a BodyBuffer straight into it (RawConnection). Off when a proxy is
  // configured in the environment (libcurl then talks to the proxy) or with `verbose`.
  bool direct_receive = true;
  std::string user_agent = "sdxl-tigris/0.1";
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request. Transport failures (DNS, connect, reset, stall, truncated body) return a
  // retryable Unavailable/DeadlineExceeded Status; an HTTP error status is NOT an error here: the
  // response carries it. `sink` (optional) receives 2xx bodies. `cancel` (optional) aborts the
  // transfer promptly when set (Cancelled).
  core::Result<HttpResponse> Send(const HttpRequest& request, const BodySink* sink = nullptr,
                                  const std::atomic<bool>* cancel = nullptr);

  const HttpClientOptions& options() const { return options_; }

 private:
  struct Handle;
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> handle);

  HttpClientOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
  struct Share;
  std::unique_ptr<Share> share_;
  bool direct_allowed_ = false;  // options_.direct_receive and no proxy in the environment
};

}  // namespace sdxl::http
