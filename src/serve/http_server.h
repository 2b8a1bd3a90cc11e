#pragma once
// HttpServer: Cog's HTTP API over PredictionService (cpp-httplib; one thread per connection from
// a bounded pool). Routes, as coglet serves them (cog_api.md section 2):
//   GET  /                      index document
//   GET  /health-check          always 200; status in the body
//   GET  /openapi.json          the schema (openapi.h)
//   POST /predictions           create (sync; `Prefer: respond-async` -> 202)
//   PUT  /predictions/{id}      idempotent create
//   POST /predictions/{id}/cancel
//   POST /shutdown              200 {}, then a graceful stop (the running prediction finishes)
//   GET  /metrics               Prometheus text (not in Cog)
//   GET  /ready                 200 when READY or BUSY, else 503 (readiness probes; not in Cog)
//   GET  /playground            the web page (playground.h; not in Cog; off with playground=false)
//   GET  /playground/predictions/{id}  an in-flight prediction's state, else 404 (the page's
//                               progress poll; Cog has no GET of a prediction)
// Bodies: no body or an empty one means {} (also with neither Content-Length nor
// Transfer-Encoding, per RFC 9112); a Content-Type other than JSON is 415; invalid JSON is 400;
// over 100 MiB is 413 (coglet's limit). A known path with another method is 405 with `Allow`;
// an unknown path 404 (both with no body, as coglet). Requests that stall are dropped after
// `read_timeout` without holding other connections. With `auth_token` set, every route but
// /health-check, /ready and the playground page itself (static; it sends the token the user types)
// needs `Authorization: Bearer <token>` (compared in constant time), else 401.
// Thread-safe; Start/Stop from one owner thread.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "serve/metrics.h"
#include "serve/prediction_service.h"

namespace sdxl::serve {

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 5000;  // 0: any free port (tests)
  std::string auth_token;
  std::string version = "0.1.0";
  bool playground = true;  // GET /playground and its poll route; false: 404 as unknown paths
  std::chrono::seconds read_timeout{10};
  std::size_t max_body_bytes = 100u << 20;
  int threads = 32;
  // Called (once) when POST /shutdown arrives, after the 200 is queued.
  std::function<void()> on_shutdown_request;
};

class HttpServer {
 public:
  HttpServer(PredictionService& service, ServeMetrics& metrics, HttpServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a background thread; the port is bound when this returns.
  [[nodiscard]] core::Status Start();
  int port() const { return port_; }
  // Stops accepting, finishes in-flight requests' I/O, joins the thread.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace sdxl::serve
