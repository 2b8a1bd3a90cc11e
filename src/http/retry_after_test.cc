#include "http/retry_after.h"

#include <gtest/gtest.h>

namespace sdxl::http {
namespace {

TEST(RequestedRetryDelay, RateLimitThenRetryAfter) {
  EXPECT_EQ(RequestedRetryDelay({{"RateLimit", "\"api\";r=0;t=55"}}).value().count(), 55);
  EXPECT_EQ(RequestedRetryDelay({{"retry-after", "7"}}).value().count(), 7);
  EXPECT_EQ(RequestedRetryDelay({{"Retry-After", " 12 "}}).value().count(), 12);
  // RateLimit wins over Retry-After.
  EXPECT_EQ(
      RequestedRetryDelay({{"retry-after", "9"}, {"ratelimit", "\"api\";r=0;t=3"}}).value().count(),
      3);
  // A RateLimit without t= falls back to Retry-After.
  EXPECT_EQ(
      RequestedRetryDelay({{"RateLimit", "\"api\";r=0"}, {"Retry-After", "4"}}).value().count(), 4);
  EXPECT_FALSE(RequestedRetryDelay({{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
  EXPECT_FALSE(RequestedRetryDelay({{"RateLimit", "\"api\";r=0;t=x"}}));
  EXPECT_FALSE(RequestedRetryDelay({}));
}

}  // namespace
}  // namespace sdxl::http
