#pragma once
// Test helper: an in-process cpp-httplib server on an ephemeral 127.0.0.1 port, serving on its
// own thread from construction until destruction (stopped and joined). Register handlers with
// on() before sending requests.

#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

namespace sdxl::http::testing {

class LocalServer {
 public:
  LocalServer() : port_(server_.bind_to_any_port("127.0.0.1")) {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LocalServer() {
    server_.stop();
    thread_.join();
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  httplib::Server& on() { return server_; }
  int port() const { return port_; }
  // "http://127.0.0.1:PORT" + path
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_;
  std::thread thread_;
};

}  // namespace sdxl::http::testing
