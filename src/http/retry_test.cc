#include "http/retry.h"

#include <gtest/gtest.h>

namespace sdxl::http {
namespace {

using std::chrono::milliseconds;

TEST(Retryable, StandardModeClassification) {
  for (int s : {500, 502, 503, 504}) EXPECT_TRUE(IsRetryableHttp(s, "")) << s;
  for (int s : {400, 403, 404, 412, 416}) EXPECT_FALSE(IsRetryableHttp(s, "")) << s;
  EXPECT_FALSE(IsRetryableHttp(429, ""));  // only via a throttling code, as botocore does
  EXPECT_TRUE(IsRetryableHttp(400, "RequestTimeout"));
  EXPECT_TRUE(IsRetryableHttp(503, "SlowDown"));
  EXPECT_TRUE(IsRetryableHttp(400, "ThrottlingException"));
  EXPECT_TRUE(IsThrottlingCode("SlowDown"));
  EXPECT_FALSE(IsThrottlingCode("NoSuchKey"));
}

TEST(RetryPolicy, FullJitterExponentialBackoffCapped) {
  double r = 1.0;
  RetryOptions o;
  o.max_attempts = 10;
  o.base_delay = milliseconds(1000);
  o.max_backoff = milliseconds(20000);
  RetryPolicy p(o, [&] { return r; });
  EXPECT_EQ(p.Backoff(1), milliseconds(1000));
  EXPECT_EQ(p.Backoff(2), milliseconds(2000));
  EXPECT_EQ(p.Backoff(5), milliseconds(16000));
  EXPECT_EQ(p.Backoff(6), milliseconds(20000));  // capped
  EXPECT_EQ(p.Backoff(40), milliseconds(20000));
  r = 0.5;
  EXPECT_EQ(p.Backoff(3), milliseconds(2000));
  r = 0.0;
  EXPECT_EQ(p.Backoff(3), milliseconds(0));
}

TEST(RetryPolicy, StopsAtMaxAttemptsAndOnPermanentErrors) {
  RetryOptions o;
  o.max_attempts = 3;
  RetryPolicy p(o, [] { return 0.5; });
  const core::Status transient = core::Unavailable("503");
  EXPECT_TRUE(p.NextDelay(transient, 1).has_value());
  EXPECT_TRUE(p.NextDelay(transient, 2).has_value());
  EXPECT_FALSE(p.NextDelay(transient, 3).has_value());
  EXPECT_FALSE(p.NextDelay(core::NotFound("404"), 1).has_value());
  EXPECT_FALSE(p.NextDelay(core::Status(), 1).has_value());
}

TEST(RetryPolicy, QuotaDrainsAndRefills) {
  RetryOptions o;
  o.max_attempts = 100;
  o.quota_capacity = 20;
  o.retry_cost = 5;
  o.timeout_retry_cost = 10;
  RetryPolicy p(o, [] { return 0.0; });
  EXPECT_TRUE(p.NextDelay(core::DeadlineExceeded("stall"), 1).has_value());  // 20 -> 10
  EXPECT_EQ(p.quota(), 10);
  EXPECT_TRUE(p.NextDelay(core::Unavailable("x"), 1).has_value());   // 10 -> 5
  EXPECT_TRUE(p.NextDelay(core::Unavailable("x"), 1).has_value());   // 5 -> 0
  EXPECT_FALSE(p.NextDelay(core::Unavailable("x"), 1).has_value());  // empty: no retry
  p.OnSuccess(/*retried=*/true);
  EXPECT_EQ(p.quota(), 5);
  p.OnSuccess(false);
  EXPECT_EQ(p.quota(), 6);
  for (int i = 0; i < 100; ++i) p.OnSuccess(true);
  EXPECT_EQ(p.quota(), 20);  // never above capacity
}

}  // namespace
}  // namespace sdxl::http
