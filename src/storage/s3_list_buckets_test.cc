#include "storage/s3_list_buckets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

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

namespace sdxl::storage {
namespace {

std::string ReadFixture(const std::string& name) {
  std::vector<std::filesystem::path> roots;
  if (const char* src = std::getenv("SDXL_SOURCE_DIR")) roots.emplace_back(src);
  for (auto p = std::filesystem::current_path(); p != p.parent_path(); p = p.parent_path()) {
    roots.push_back(p);
  }
  for (const auto& root : roots) {
    std::ifstream in(root / "tests/fixtures/s3" / name, std::ios::binary);
    if (in.good()) return std::string(std::istreambuf_iterator<char>(in), {});
  }
  ADD_FAILURE() << "tests/fixtures/s3/" << name << " not found: set SDXL_SOURCE_DIR";
  return "";
}

TEST(ParseListBuckets, LenientShapes) {
  // Prefixed namespace, Owner after Buckets (moto's order), elements of a Bucket reversed.
  auto page = ParseListBuckets(
      "<s3:ListAllMyBucketsResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<s3:Buckets><s3:Bucket><s3:CreationDate>2025-01-01T00:00:00Z</s3:CreationDate>"
      "<s3:Name>b1</s3:Name><s3:BucketRegion>auto</s3:BucketRegion></s3:Bucket></s3:Buckets>"
      "<s3:Owner><s3:ID>o</s3:ID></s3:Owner></s3:ListAllMyBucketsResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->buckets.size(), 1u);
  EXPECT_EQ(page->buckets[0].name, "b1");
  EXPECT_EQ(page->buckets[0].creation_date, "2025-01-01T00:00:00Z");
  // No <Buckets> at all (an account without buckets, some servers).
  auto none = ParseListBuckets("<ListAllMyBucketsResult><Owner/></ListAllMyBucketsResult>");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->buckets.empty());
  // An <Error> in a 200 answer is that error, not "malformed".
  auto denied = ParseListBuckets("<Error><Code>AccessDenied</Code><Message>no</Message></Error>");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), core::Code::kPermissionDenied);
}

TEST(ParseListBuckets, Fixtures) {
  auto aws = ParseListBuckets(ReadFixture("aws/list_buckets.xml"));
  ASSERT_TRUE(aws.ok()) << aws.status().ToString();
  ASSERT_EQ(aws->buckets.size(), 2u);
  EXPECT_EQ(aws->buckets[0].name, "amzn-s3-demo-bucket");
  EXPECT_EQ(aws->buckets[0].creation_date, "2019-12-11T23:32:47+00:00");
  EXPECT_EQ(aws->continuation_token,
            "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ==");
  auto tigris = ParseListBuckets(ReadFixture("tigris/list_buckets.xml"));
  ASSERT_TRUE(tigris.ok()) << tigris.status().ToString();
  ASSERT_EQ(tigris->buckets.size(), 1u);
  EXPECT_EQ(tigris->buckets[0].name, "sdxl-models");
  EXPECT_TRUE(tigris->continuation_token.empty());
}

}  // namespace
}  // namespace sdxl::storage
