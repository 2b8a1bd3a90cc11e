#pragma once
// RawConnection: one keep-alive HTTP/1.1 connection that receives GET response bodies straight
// into the caller's memory.
//
// libcurl delivers a body through its own receive buffer and a write callback, so every byte is
// copied once more in user space (measured: a third of the client's CPU on a 4 GiB download).
// Here libcurl still opens the connection (CURLOPT_CONNECT_ONLY: DNS cache, TCP, TLS with the
// usual certificate checks, ALPN limited to http/1.1), and then we speak HTTP/1.1 ourselves:
// the request goes out with curl_easy_send and the body comes in with curl_easy_recv, which is
// recv() or SSL_read() into the caller's buffer: no intermediate copy.
//
// Scope, on purpose narrow: GET requests whose 2xx response carries a Content-Length (what S3
// sends for GetObject). Anything else, for example a chunked 2xx body, is reported as
// kUnsupported before a single body byte is handed out, and the caller sends the request again
// through the ordinary libcurl path. Not thread-safe: one connection per worker.

#include <curl/curl.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "core/status.h"
#include "http/http_client.h"
#include "http/url.h"

namespace sdxl::http {

class RawConnection {
 public:
  // `share`: the client's share handle (DNS cache, TLS sessions); may be null.
  RawConnection(const HttpClientOptions& options, CURLSH* share);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  enum class Outcome {
    kDone,         // `response` holds the answer (any status)
    kUnsupported,  // nothing was handed to `body`: send this request another way
  };

  // Sends `request` (a GET to `url`) on this connection, opening or reopening it as needed (a
  // stale keep-alive connection is retried once, transparently). A 2xx body goes to `body`
  // (request.on_body_start runs first); other statuses keep their body in response.body.
  // Transport failures are retryable Unavailable / DeadlineExceeded statuses, like
  // HttpClient::Send; a body cut short by the caller (commit returned false) is Cancelled.
  core::Result<Outcome> Get(const HttpRequest& request, const Url& url, const BodyBuffer& body,
                            const std::atomic<bool>* cancel, HttpResponse* response);

  bool open() const { return easy_ != nullptr; }

 private:
  core::Status Open(const Url& url, const std::string& request_url);
  void Close();
  // Waits until the socket is readable (or writable), honouring cancel and the stall limit.
  core::Status Wait(bool for_write, const std::atomic<bool>* cancel);
  core::Status SendAll(const std::string& data, const std::atomic<bool>* cancel);
  // Receives up to n bytes into `out`; 0 means the peer closed the connection.
  core::Result<std::size_t> Receive(char* out, std::size_t n, const std::atomic<bool>* cancel);
  // One request/response on the open connection. `nothing_received` stays true until the first
  // response byte arrives (a failure before that may be a stale keep-alive connection).
  core::Result<Outcome> Exchange(const HttpRequest& request, const Url& url, const BodyBuffer& body,
                                 const std::atomic<bool>* cancel, HttpResponse* response,
                                 bool* nothing_received);

  const HttpClientOptions& options_;
  CURLSH* share_;
  CURL* easy_ = nullptr;
  curl_socket_t socket_ = CURL_SOCKET_BAD;
  std::string origin_;  // scheme://host[:port] the connection goes to
};

}  // namespace sdxl::http
