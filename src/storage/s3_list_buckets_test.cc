#include "storage/s3_list_buckets.h"

#include <gtest/gtest.h>

namespace sdxl::storage {
namespace {

TEST(ParseListBuckets, NamesDatesAndToken) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Owner><ID>o</ID></Owner><Buckets>"
      "<Bucket><Name>models</Name><CreationDate>2024-05-01T12:00:00.000Z</CreationDate></Bucket>"
      "<Bucket><Name>out</Name><CreationDate>2025-01-02T03:04:05Z</CreationDate></Bucket>"
      "</Buckets><ContinuationToken>tok</ContinuationToken></ListAllMyBucketsResult>";
  auto page = ParseListBuckets(body);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->buckets.size(), 2u);
  EXPECT_EQ(page->buckets[0].name, "models");
  EXPECT_EQ(page->buckets[0].creation_date, "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(page->buckets[1].name, "out");
  EXPECT_EQ(page->continuation_token, "tok");
}

TEST(ParseListBuckets, EmptyAndMalformed) {
  auto empty = ParseListBuckets("<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->buckets.empty());
  EXPECT_TRUE(empty->continuation_token.empty());
  auto bad = ParseListBuckets("<ListAllMyBucketsResult><Buckets><Bucket>");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().retryable());
  EXPECT_FALSE(ParseListBuckets("<Error><Code>x</Code></Error>").ok());
}

}  // namespace
}  // namespace sdxl::storage
