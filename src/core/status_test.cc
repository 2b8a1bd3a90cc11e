#include "core/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace sdxl::core {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  SDXL_ASSIGN_OR_RETURN(int h, Half(x));
  SDXL_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, CarriesCodeMessageAndRetryability) {
  Status s = Unavailable("server busy").WithHttp(503, "SlowDown");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(s.http_status(), 503);
  EXPECT_EQ(s.service_code(), "SlowDown");
  EXPECT_EQ(s.ToString(), "UNAVAILABLE: server busy");
  EXPECT_EQ(s.Annotate("GET s3://b/k").message(), "GET s3://b/k: server busy");
  EXPECT_FALSE(NotFound("x").retryable());
}

TEST(Result, PropagatesErrorsThroughMacros) {
  EXPECT_EQ(Quarter(8).value(), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "odd: 3");
}

}  // namespace
}  // namespace sdxl::core

namespace sdxl::core {
namespace {

TEST(ErrnoStatus, MapsFileSystemErrors) {
  EXPECT_EQ(ErrnoStatus("cannot open x", ENOENT).code(), Code::kNotFound);
  EXPECT_EQ(ErrnoStatus("cannot open x", EACCES).code(), Code::kPermissionDenied);
  const Status full = ErrnoStatus("cannot write x", ENOSPC);
  EXPECT_EQ(full.code(), Code::kResourceExhausted);
  EXPECT_TRUE(IsNoSpace(full));
  EXPECT_NE(full.message().find("free some disk space"), std::string::npos);
  EXPECT_EQ(full.message().find("cannot write x: "), 0u);
  EXPECT_TRUE(IsNoSpace(ErrnoStatus("cannot write x", EDQUOT)));
  EXPECT_FALSE(IsNoSpace(ErrnoStatus("cannot write x", EIO)));
  EXPECT_FALSE(ErrnoStatus("cannot read x", EIO).retryable());
}

}  // namespace
}  // namespace sdxl::core
