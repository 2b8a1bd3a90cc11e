// SendFollowingRedirects and HttpRequest::on_body_start against two in-process servers on
// 127.0.0.1 (cpp-httplib): an "origin" that redirects and a "cdn" on another port that records
// which requests carried credentials.
#include "http/redirect.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "http/range_resume.h"
#include "http/testing/local_server.h"

namespace sdxl::http {
namespace {

using ::sdxl::http::testing::LocalServer;

// What each server saw: path, and whether credentials came along.
struct Seen {
  std::mutex mu;
  std::vector<std::string> log;  // "path auth=<0|1> cookie=<0|1>"
  void Add(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back(req.path + " auth=" + (req.has_header("Authorization") ? "1" : "0") +
                  " cookie=" + (req.has_header("Cookie") ? "1" : "0"));
  }
};

class RedirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_.on().Get("/same", [this](const httplib::Request& req, httplib::Response& res) {
      seen_.Add(req);
      res.status = 302;
      res.set_header("Location", "files/blob");  // relative to /same -> /files/blob
    });
    origin_.on().Get("/files/blob", [this](const httplib::Request& req, httplib::Response& res) {
      seen_.Add(req);
      res.status = 307;
      res.set_header("Location", cdn_.url("/cdn/blob?X-Amz-Signature=secret"));
      res.set_content("redirect body", "text/plain");
    });
    cdn_.on().Get("/cdn/blob", [this](const httplib::Request& req, httplib::Response& res) {
      seen_.Add(req);
      res.set_content(kBody, "application/octet-stream");  // httplib applies Range itself
    });
    cdn_.on().Get("/cdn/bounce", [this](const httplib::Request& req, httplib::Response& res) {
      seen_.Add(req);
      res.status = 302;
      res.set_header("Location", origin_.url("/back"));
    });
    origin_.on().Get("/to-cdn-and-back",
                     [this](const httplib::Request& req, httplib::Response& res) {
                       seen_.Add(req);
                       res.status = 301;
                       res.set_header("Location", cdn_.url("/cdn/bounce"));
                     });
    origin_.on().Get("/back", [this](const httplib::Request& req, httplib::Response& res) {
      seen_.Add(req);
      res.set_content("back", "text/plain");
    });
    origin_.on().Get("/loop", [](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "/loop");
    });
    origin_.on().Get("/evil", [](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "file:///etc/passwd");
    });
    origin_.on().Post("/post", [](const httplib::Request&, httplib::Response& res) {
      res.status = 303;
      res.set_header("Location", "/back");
    });
  }

  HttpRequest Get(const std::string& url) {
    HttpRequest r;
    r.url = url;
    r.headers = {{"Authorization", "Bearer hf_secret"}, {"Cookie", "c=1"}, {"X-Keep", "1"}};
    return r;
  }

  static constexpr const char* kBody = "0123456789abcdefghijklmnopqrstuvwxyz";
  LocalServer origin_, cdn_;
  Seen seen_;
  HttpClient client_;
};

TEST_F(RedirectTest, CredentialsStayOnTheFirstOrigin) {
  std::string body;
  BodySink sink = [&](std::string_view chunk) {
    body.append(chunk);
    return true;
  };
  auto r = SendFollowingRedirects(client_, Get(origin_.url("/same")), &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->response.status, 200);
  EXPECT_EQ(r->redirects, 2);
  EXPECT_EQ(r->url, cdn_.url("/cdn/blob?X-Amz-Signature=secret"));
  EXPECT_EQ(body, kBody);  // the 307's own body did not reach the sink
  EXPECT_EQ(seen_.log,
            (std::vector<std::string>{"/same auth=1 cookie=1", "/files/blob auth=1 cookie=1",
                                      "/cdn/blob auth=0 cookie=0"}));
}

TEST_F(RedirectTest, CredentialsAreNotResentWhenARedirectComesBack) {
  auto r = SendFollowingRedirects(client_, Get(origin_.url("/to-cdn-and-back")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->response.body, "back");
  EXPECT_EQ(seen_.log,
            (std::vector<std::string>{"/to-cdn-and-back auth=1 cookie=1",
                                      "/cdn/bounce auth=0 cookie=0", "/back auth=0 cookie=0"}));
}

TEST_F(RedirectTest, ResumesWithRangeThroughTheRedirects) {
  HttpRequest req = Get(origin_.url("/same"));
  req.headers.emplace_back("Range", RangeFrom(10));
  std::vector<int> starts;
  req.on_body_start = [&](const HttpResponse& head) {
    starts.push_back(head.status);
    auto action = CheckResumeResponse(head, 10);
    EXPECT_TRUE(action.ok()) << action.status().ToString();
    return action.ok() && *action == ResumeAction::kAppend;
  };
  std::string body;
  BodySink sink = [&](std::string_view chunk) {
    body.append(chunk);
    return true;
  };
  auto r = SendFollowingRedirects(client_, req, &sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->response.status, 206);
  EXPECT_EQ(starts, std::vector<int>{206});  // once, for the final answer only
  EXPECT_EQ(body, std::string(kBody).substr(10));
}

TEST_F(RedirectTest, BodyStartHookCanRefuseTheAnswer) {
  HttpRequest req = Get(origin_.url("/same"));
  req.headers.emplace_back("Range", RangeFrom(10));
  req.on_body_start = [](const HttpResponse& head) {
    return head.status == 200;  // pretend we only accept a full body
  };
  std::string body;
  BodySink sink = [&](std::string_view chunk) {
    body.append(chunk);
    return true;
  };
  auto r = SendFollowingRedirects(client_, req, &sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kCancelled);
  EXPECT_TRUE(body.empty());
}

TEST_F(RedirectTest, StopsAfterMaxRedirects) {
  auto r = SendFollowingRedirects(client_, Get(origin_.url("/loop")), nullptr, nullptr, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kUnavailable);
  EXPECT_TRUE(r.status().retryable());
  EXPECT_NE(r.status().message().find("too many redirects"), std::string::npos);
}

TEST_F(RedirectTest, RefusesNonHttpTargets) {
  auto r = SendFollowingRedirects(client_, Get(origin_.url("/evil")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("file:///etc/passwd"), std::string::npos);
}

TEST_F(RedirectTest, DoesNotFollowRequestsWithABody) {
  HttpRequest req = Get(origin_.url("/post"));
  req.method = "POST";
  req.body = "x=1";
  auto r = SendFollowingRedirects(client_, req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->response.status, 303);
  EXPECT_EQ(r->redirects, 0);
}

TEST_F(RedirectTest, TransportErrorsAfterARedirectDoNotLeakTheSignedUrl) {
  int dead_port = 0;
  {
    LocalServer gone;  // a port that was just closed: connection refused
    dead_port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  const std::string signed_url =
      "http://127.0.0.1:" + std::to_string(dead_port) + "/cdn/x?X-Amz-Signature=secret";
  origin_.on().Get("/to-dead", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", signed_url);
  });
  auto r = SendFollowingRedirects(client_, Get(origin_.url("/to-dead")));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().retryable());
  EXPECT_EQ(r.status().message().find("secret"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(RedactUrl(signed_url)), std::string::npos);
}

TEST(RedirectHelpers, Classify) {
  for (int s : {301, 302, 303, 307, 308}) EXPECT_TRUE(IsRedirectStatus(s)) << s;
  for (int s : {200, 300, 304, 305, 400}) EXPECT_FALSE(IsRedirectStatus(s)) << s;
  EXPECT_TRUE(IsCredentialHeader("authorization"));
  EXPECT_TRUE(IsCredentialHeader("Proxy-Authorization"));
  EXPECT_TRUE(IsCredentialHeader("COOKIE"));
  EXPECT_FALSE(IsCredentialHeader("Range"));
  EXPECT_EQ(RedactUrl("https://cdn/x/y?X-Amz-Signature=s#f"), "https://cdn/x/y");
  EXPECT_EQ(RedactUrl("https://cdn/x"), "https://cdn/x");
}

}  // namespace
}  // namespace sdxl::http
