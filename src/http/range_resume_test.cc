#include "http/range_resume.h"

#include <gtest/gtest.h>

namespace sdxl::http {
namespace {

HttpResponse Head(int status, Headers headers = {}) {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

TEST(RangeResume, RangeHeader) {
  EXPECT_EQ(RangeFrom(0), "bytes=0-");
  EXPECT_EQ(RangeFrom(1572864), "bytes=1572864-");
}

TEST(RangeResume, ParsesContentRange) {
  auto r = ParseContentRange("bytes 100-199/200");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 100u);
  EXPECT_EQ(r->last, 199u);
  EXPECT_EQ(r->complete_length.value(), 200u);
  auto star = ParseContentRange(" bytes 0-0/* ");
  ASSERT_TRUE(star.has_value());
  EXPECT_FALSE(star->complete_length.has_value());
  for (const char* bad : {"", "bytes */200", "bytes 5-4/10", "bytes 0-10/10", "items 0-1/2",
                          "bytes 0-1", "bytes -1-2/3", "bytes 0-1/x", "bytes a-1/2"}) {
    EXPECT_FALSE(ParseContentRange(bad).has_value()) << bad;
  }
}

TEST(RangeResume, WhatAnAnswerMeans) {
  // Fresh download: any 2xx appends at 0.
  EXPECT_EQ(CheckResumeResponse(Head(200), 0).value(), ResumeAction::kAppend);
  // The server honoured the range (header names are case-insensitive).
  EXPECT_EQ(
      CheckResumeResponse(Head(206, {{"content-range", "bytes 1000-4999/5000"}}), 1000).value(),
      ResumeAction::kAppend);
  // The server ignored the range: the body starts at byte 0.
  EXPECT_EQ(CheckResumeResponse(Head(200), 1000).value(), ResumeAction::kRestart);
  // A different range, or none at all, is a broken answer.
  for (const Headers& h : {Headers{{"Content-Range", "bytes 0-4999/5000"}}, Headers{}}) {
    auto bad = CheckResumeResponse(Head(206, h), 1000);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), core::Code::kDataLoss);
    EXPECT_FALSE(bad.status().retryable());
  }
}

}  // namespace
}  // namespace sdxl::http
