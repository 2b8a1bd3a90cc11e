#include "serve/http_server.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <regex>
#include <utility>
#include <vector>

#include "serve/openapi.h"
#include "serve/peer_socket.h"
#include "serve/playground.h"

namespace sdxl::serve {
namespace {

using nlohmann::json;

constexpr char kJson[] = "application/json";

void Send(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), kJson);
}

bool IsJsonContentType(const std::string& value) {
  std::string v = value.substr(0, value.find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "application/json" || (v.rfind("application/", 0) == 0 && v.size() > 5 &&
                                     v.compare(v.size() - 5, 5, "+json") == 0);
}

bool TokenMatches(const std::string& header, const std::string& token) {
  static constexpr std::string_view kBearer = "Bearer ";
  if (header.size() != kBearer.size() + token.size()) return false;
  if (header.compare(0, kBearer.size(), kBearer) != 0) return false;
  return CRYPTO_memcmp(header.data() + kBearer.size(), token.data(), token.size()) == 0;
}

}  // namespace

struct HttpServer::Impl {
  PredictionService& service;
  ServeMetrics& metrics;
  HttpServerOptions options;
  httplib::Server server;
  std::atomic<bool> shutdown_requested{false};
  std::vector<std::pair<std::regex, std::string>> known_paths;  // pattern, Allow; set in Routes()

  Impl(PredictionService& s, ServeMetrics& m, HttpServerOptions o)
      : service(s), metrics(m), options(std::move(o)) {}

  // Parses the request body into `out`; on failure writes the error response and returns false.
  bool ParseBody(const httplib::Request& req, httplib::Response& res, json& out) {
    out = json::object();
    if (req.body.empty()) return true;
    if (req.has_header("Content-Type") &&
        !IsJsonContentType(req.get_header_value("Content-Type"))) {
      Send(res, 415, json{{"detail", "Expected request with `Content-Type: application/json`"}});
      return false;
    }
    json parsed = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      Send(res, 400, json{{"detail", "The request body is not valid JSON"}});
      return false;
    }
    if (!parsed.is_object()) {
      Send(res, 422,
           json{{"detail", json::array({{{"loc", {"body"}},
                                         {"msg", "Input should be a valid dictionary"},
                                         {"type", "dict_type"}}})}});
      return false;
    }
    out = std::move(parsed);
    return true;
  }

  void Create(const httplib::Request& req, httplib::Response& res, const std::string& url_id) {
    json body;
    if (!ParseBody(req, res, body)) return;
    const bool async = req.get_header_value("Prefer") == "respond-async";
    // A sync prediction whose client hangs up is canceled (coglet's behaviour): watch the socket.
    std::function<bool()> client_gone;
    if (!async) {
      const TcpConnectionId id{req.local_addr, req.local_port, req.remote_addr, req.remote_port};
      if (QueryPeer(id) == PeerState::kConnected) {
        client_gone = [id] { return QueryPeer(id) == PeerState::kGone; };
      }
    }
    ServiceReply reply = service.Create(body, url_id, async, client_gone);
    Send(res, reply.http_status, reply.body);
  }

  // Registers 405 handlers for `pattern` under every method that `allow` does not list (HEAD
  // follows GET in cpp-httplib).
  void MethodNotAllowed(const std::string& pattern, const std::string& allow) {
    const httplib::Server::Handler reply = [allow](const httplib::Request&,
                                                   httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", allow);
    };
    known_paths.emplace_back(std::regex(pattern), allow);
    const auto allows = [&](const std::string& m) { return allow.find(m) != std::string::npos; };
    if (!allows("GET")) server.Get(pattern, reply);
    if (!allows("POST")) server.Post(pattern, reply);
    if (!allows("PUT")) server.Put(pattern, reply);
    server.Delete(pattern, reply);
    server.Patch(pattern, reply);
    server.Options(pattern, reply);
  }

  void Routes() {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding has no
      // body. cpp-httplib 0.11 reads such a POST/PUT to EOF instead, so `curl -X POST .../cancel`
      // stalled for the read timeout and got 400. Say the length is 0 before it reads the body
      // (this handler runs first; the Request it gets is the server's own, non-const object).
      if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
        const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
      }
      // The playground page is static and public (it grants nothing; every call it makes
      // carries the token the user types), so a browser can open it without a header.
      const bool open_path = req.path == "/health-check" || req.path == "/ready" ||
                             (options.playground && req.path == "/playground");
      if (!options.auth_token.empty() && !open_path &&
          !TokenMatches(req.get_header_value("Authorization"), options.auth_token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        Send(res, 401,
             json{{"detail",
                   "Missing or wrong bearer token: send `Authorization: Bearer <token>` "
                   "with the server's SDXL_API_TOKEN"}});
        return httplib::Server::HandlerResponse::Handled;
      }
      // Methods cpp-httplib parses but cannot route (it would answer 400): 405 on a known path,
      // else 404, as for the other methods.
      if (req.method == "TRACE" || req.method == "CONNECT") {
        res.status = 404;
        for (const auto& [pattern, allow] : known_paths) {
          if (std::regex_match(req.path, pattern)) {
            res.status = 405;
            res.set_header("Allow", allow);
            break;
          }
        }
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.Get("/", [this](const httplib::Request&, httplib::Response& res) {
      Send(res, 200,
           json{{"cog_version", options.version},
                {"docs_url", "/docs"},
                {"openapi_url", "/openapi.json"},
                {"shutdown_url", "/shutdown"},
                {"healthcheck_url", "/health-check"},
                {"predictions_url", "/predictions"},
                {"predictions_idempotent_url", "/predictions/{prediction_id}"},
                {"predictions_cancel_url", "/predictions/{prediction_id}/cancel"}});
    });
    server.Get("/health-check", [this](const httplib::Request&, httplib::Response& res) {
      Send(res, 200, service.HealthJson());
    });
    // Readiness for load balancers and platform probes (not in Cog, whose /health-check is 200
    // even while STARTING): 200 once predictions can be taken (READY, or BUSY with its one slot
    // taken), else 503; the body is the health status.
    server.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
      const Health h = service.health();
      const bool ready = h == Health::kReady || h == Health::kBusy;
      Send(res, ready ? 200 : 503, json{{"status", HealthName(h)}});
    });
    server.Get("/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
      Send(res, 200, OpenApiDocument(service.input_defaults(), options.version));
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.Render(service.health()), "text/plain; version=0.0.4");
    });
    server.Post("/shutdown", [this](const httplib::Request&, httplib::Response& res) {
      Send(res, 200, json::object());
      if (!shutdown_requested.exchange(true) && options.on_shutdown_request) {
        options.on_shutdown_request();
      }
    });
    server.Post("/predictions", [this](const httplib::Request& req, httplib::Response& res) {
      Create(req, res, "");
    });
    server.Put(R"(/predictions/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 Create(req, res, req.matches[1].str());
               });
    server.Post(R"(/predictions/([^/]+)/cancel)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  ServiceReply reply = service.Cancel(req.matches[1].str());
                  Send(res, reply.http_status, reply.body);
                });
    if (options.playground) {
      server.Get("/playground", [](const httplib::Request&, httplib::Response& res) {
        for (const auto& [name, value] : PlaygroundHeaders()) res.set_header(name, value);
        const std::string_view page = PlaygroundHtml();
        res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
      });
      server.Get(R"(/playground/predictions/([^/]+))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   ServiceReply reply = service.InFlight(req.matches[1].str());
                   res.set_header("Cache-Control", "no-store");
                   Send(res, reply.http_status, reply.body);
                 });
      MethodNotAllowed("/playground", "GET,HEAD");
      MethodNotAllowed(R"(/playground/predictions/([^/]+))", "GET,HEAD");
    }
    // A known path with another method: 405 with Allow and no body, as coglet (axum) answers.
    MethodNotAllowed("/", "GET,HEAD");
    MethodNotAllowed("/health-check", "GET,HEAD");
    MethodNotAllowed("/openapi.json", "GET,HEAD");
    MethodNotAllowed("/metrics", "GET,HEAD");
    MethodNotAllowed("/ready", "GET,HEAD");
    MethodNotAllowed("/shutdown", "POST");
    MethodNotAllowed("/predictions", "POST");
    MethodNotAllowed(R"(/predictions/([^/]+))", "PUT");
    MethodNotAllowed(R"(/predictions/([^/]+)/cancel)", "POST");
    server.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("{} {}: {}", req.method, req.path, what);
          Send(res, 500, json{{"detail", "internal server error"}});
        });
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
    });
  }
};

HttpServer::HttpServer(PredictionService& service, ServeMetrics& metrics, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(service, metrics, std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

core::Status HttpServer::Start() {
  auto& s = impl_->server;
  const auto& o = impl_->options;
  const int threads = o.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(o.max_body_bytes);
  s.set_read_timeout(o.read_timeout);
  s.set_write_timeout(std::chrono::seconds(30));
  s.set_keep_alive_timeout(5);
  impl_->Routes();
  if (o.port == 0) {
    port_ = s.bind_to_any_port(o.host);
    if (port_ <= 0) return core::Unavailable("cannot listen on " + o.host + " (any port)");
  } else {
    if (!s.bind_to_port(o.host, o.port)) {
      return core::Unavailable("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                               " (in use? pick another with --port or PORT)");
    }
    port_ = o.port;
  }
  thread_ = std::thread([this] { impl_->server.listen_after_bind(); });
  return core::Status::Ok();
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    impl_->server.stop();
    thread_.join();
  }
}

}  // namespace sdxl::serve
