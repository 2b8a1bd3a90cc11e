// The direct-receive GET path (RawConnection behind HttpClient::Send with a BodyBuffer) against
// an in-process HTTP server on 127.0.0.1: bytes land in the caller's memory, the connection is
// kept alive and reopened when the server dropped it, error bodies are kept, chunked bodies fall
// back to libcurl, and a body cut short is a retryable error.
#include "http/raw_connection.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/testing/local_server.h"

namespace sdxl::http {
namespace {

using ::sdxl::http::testing::LocalServer;

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

// A receiver that lends a `slice`-byte window and appends what is committed, and counts sink
// calls.
struct Receiver {
  std::string got;
  std::vector<char> window = std::vector<char>(64 * 1024);
  std::size_t committed_calls = 0;
  std::size_t sink_bytes = 0;
  std::size_t stop_after = 0;  // > 0: commit returns false once this many bytes are in
  BodyBuffer buffer;
  BodySink sink;

  Receiver() {
    buffer.space = [this] { return std::span<char>(window.data(), window.size()); };
    buffer.commit = [this](std::size_t n) {
      got.append(window.data(), n);
      ++committed_calls;
      return stop_after == 0 || got.size() < stop_after;
    };
    sink = [this](std::string_view chunk) {
      got.append(chunk);
      sink_bytes += chunk.size();
      return true;
    };
  }
};

HttpRequest Get(const std::string& url, const Receiver& r) {
  HttpRequest req;
  req.url = url;
  req.headers.emplace_back("X-Test", "1");
  req.direct_body = &r.buffer;
  return req;
}

TEST(RawConnectionTest, BodyLandsInCallerMemoryWithoutTheSink) {
  // Before the server: its threads may still send from `body` while it shuts down.
  const std::string body = Pattern(3 * 1024 * 1024 + 17);
  LocalServer server;
  std::string seen_host, seen_agent, seen_test;
  server.on().Get("/obj", [&](const httplib::Request& req, httplib::Response& res) {
    seen_host = req.get_header_value("Host");
    seen_agent = req.get_header_value("User-Agent");
    seen_test = req.get_header_value("X-Test");
    res.set_content(body, "application/octet-stream");
  });
  HttpClient client;
  Receiver r;
  auto res = client.Send(Get(server.url("/obj"), r), &r.sink);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->Header("content-type").value_or(""), "application/octet-stream");
  EXPECT_TRUE(r.got == body) << r.got.size() << " bytes, expected " << body.size();
  EXPECT_EQ(r.sink_bytes, 0u) << "the sink must not see bytes the buffer took";
  EXPECT_GT(r.committed_calls, 0u);
  EXPECT_EQ(res->sink_bytes, body.size());
  EXPECT_EQ(seen_host, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen_agent, client.options().user_agent);
  EXPECT_EQ(seen_test, "1");
}

TEST(RawConnectionTest, ReusesOneConnectionAcrossRequests) {
  LocalServer server;
  std::mutex mu;
  std::set<int> ports;
  server.on().Get("/obj", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    ports.insert(req.remote_port);
    res.set_content(Pattern(100000), "application/octet-stream");
  });
  HttpClient client;
  for (int i = 0; i < 5; ++i) {
    Receiver r;
    auto res = client.Send(Get(server.url("/obj"), r), &r.sink);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_TRUE(r.got == Pattern(100000));
  }
  EXPECT_EQ(ports.size(), 1u) << "each request opened a new connection";
}

TEST(RawConnectionTest, ReopensAConnectionTheServerDropped) {
  LocalServer server;
  server.on().set_keep_alive_timeout(1);  // the server closes idle connections after 1 s
  std::atomic<int> calls{0};
  server.on().Get("/obj", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.set_content("payload", "text/plain");
  });
  HttpClient client;
  Receiver first;
  ASSERT_TRUE(client.Send(Get(server.url("/obj"), first), &first.sink).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  Receiver second;
  auto res = client.Send(Get(server.url("/obj"), second), &second.sink);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(second.got, "payload");
  EXPECT_EQ(calls.load(), 2);
}

TEST(RawConnectionTest, ErrorStatusKeepsItsBodyAndTouchesNoBuffer) {
  LocalServer server;
  server.on().Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("<Error><Code>NoSuchKey</Code></Error>", "application/xml");
  });
  server.on().Get("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("fine", "text/plain");
  });
  HttpClient client;
  Receiver r;
  auto res = client.Send(Get(server.url("/missing"), r), &r.sink);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "<Error><Code>NoSuchKey</Code></Error>");
  EXPECT_EQ(r.committed_calls, 0u);
  EXPECT_TRUE(r.got.empty());
  Receiver after;  // the connection is still usable
  ASSERT_TRUE(client.Send(Get(server.url("/ok"), after), &after.sink).ok());
  EXPECT_EQ(after.got, "fine");
}

TEST(RawConnectionTest, ChunkedBodyFallsBackToTheSink) {
  // Before the server: its threads may still send from `body` while it shuts down.
  const std::string body = Pattern(200000);
  LocalServer server;
  server.on().Get("/chunked", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(
        "application/octet-stream", [&](std::size_t offset, httplib::DataSink& sink) {
          if (offset >= body.size()) {
            sink.done();
            return true;
          }
          const std::size_t n = std::min<std::size_t>(30000, body.size() - offset);
          sink.write(body.data() + offset, n);
          return true;
        });
  });
  HttpClient client;
  Receiver r;
  auto res = client.Send(Get(server.url("/chunked"), r), &r.sink);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(r.got == body) << r.got.size() << " bytes, expected " << body.size();
  EXPECT_EQ(r.committed_calls, 0u);
  EXPECT_EQ(r.sink_bytes, body.size());
}

TEST(RawConnectionTest, BodyCutShortIsARetryableError) {
  // Before the server: its threads may still send from `body` while it shuts down.
  const std::string body = Pattern(1 << 20);
  LocalServer server;
  server.on().Get("/cut", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(body.size(), "application/octet-stream",
                             [&](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset >= body.size() / 2) return false;  // drop the connection
                               sink.write(body.data() + offset, body.size() / 2 - offset);
                               return true;
                             });
  });
  HttpClient client;
  Receiver r;
  auto res = client.Send(Get(server.url("/cut"), r), &r.sink);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), core::Code::kUnavailable) << res.status().ToString();
  EXPECT_TRUE(res.status().retryable());
  EXPECT_TRUE(r.got == body.substr(0, body.size() / 2))
      << "bytes before the cut, in order: got " << r.got.size();
}

TEST(RawConnectionTest, ReceiverStopIsCancelledAndTheNextRequestWorks) {
  // Before the server: its threads may still send from `body` while it shuts down.
  const std::string body = Pattern(4 << 20);
  LocalServer server;
  server.on().Get("/obj", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  HttpClient client;
  Receiver r;
  r.stop_after = 1 << 20;
  auto res = client.Send(Get(server.url("/obj"), r), &r.sink);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), core::Code::kCancelled) << res.status().ToString();
  Receiver again;  // the half-read connection was dropped, not reused mid-body
  auto ok = client.Send(Get(server.url("/obj"), again), &again.sink);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(again.got == body) << again.got.size() << " bytes";
}

TEST(RawConnectionTest, CancelFlagStopsAStalledResponse) {
  LocalServer server;
  std::atomic<bool> release{false};
  server.on().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    res.set_content("late", "text/plain");
  });
  HttpClient client;
  Receiver r;
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel.store(true);
  });
  const auto start = std::chrono::steady_clock::now();
  auto res = client.Send(Get(server.url("/slow"), r), &r.sink, &cancel);
  const auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  release.store(true);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), core::Code::kCancelled);
  EXPECT_LT(took, std::chrono::seconds(3));
}

}  // namespace
}  // namespace sdxl::http
