#include "storage/s3_xml.h"

#include <gtest/gtest.h>

namespace sdxl::storage {
namespace {

S3Error Err(std::string code) {
  S3Error e;
  e.code = std::move(code);
  return e;
}

TEST(S3Xml, ListObjectsV2Page) {
  auto page = ParseListObjectsV2(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Prefix>m/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>tok/+=</NextContinuationToken>
<Contents><Key>m/a b&amp;c.bin</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified>
<ETag>&quot;0123abcd&quot;</ETag><Size>6442450944</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>m/ü.json</Key><ETag>"ff-2"</ETag><Size>0</Size></Contents>
</ListBucketResult>)");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "m/a b&c.bin");
  EXPECT_EQ(page->objects[0].size, 6442450944ull);  // > 4 GiB
  EXPECT_EQ(page->objects[0].etag, "0123abcd");
  EXPECT_EQ(page->objects[1].key, "m/ü.json");
  EXPECT_EQ(page->objects[1].etag, "ff-2");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok/+=");
}

TEST(S3Xml, ListObjectsUrlEncodingTypeIsDecoded) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
      "<Contents><Key>a+b%2Bc%25d</Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects[0].key, "a b+c%d");
}

TEST(S3Xml, MalformedBodiesAreRetryableDataLoss) {
  for (const char* body :
       {"", "<ListBucketResult><Contents><Key>x</Key>", "<Other/>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents></ListBucketResult>"}) {
    auto page = ParseListObjectsV2(body);
    ASSERT_FALSE(page.ok()) << body;
    EXPECT_EQ(page.status().code(), core::Code::kDataLoss);
    EXPECT_TRUE(page.status().retryable());
  }
}

TEST(S3Xml, ErrorsBecomeClearStatuses) {
  const S3Error e = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket "
      "does not exist</Message><Resource>/nope</Resource><RequestId>r1</RequestId></Error>");
  EXPECT_EQ(e.code, "NoSuchBucket");
  EXPECT_EQ(e.request_id, "r1");
  core::Status st = S3ErrorToStatus(404, e, "LIST s3://nope");
  EXPECT_EQ(st.code(), core::Code::kNotFound);
  EXPECT_NE(st.message().find("mb"), std::string::npos);
  EXPECT_EQ(st.http_status(), 404);
  EXPECT_EQ(st.service_code(), "NoSuchBucket");

  EXPECT_EQ(S3ErrorToStatus(404, Err("NoSuchKey"), "GET").code(), core::Code::kNotFound);
  EXPECT_EQ(S3ErrorToStatus(404, {}, "HEAD").code(), core::Code::kNotFound);  // HEAD: no body
  const auto sig = S3ErrorToStatus(403, Err("SignatureDoesNotMatch"), "GET");
  EXPECT_EQ(sig.code(), core::Code::kUnauthenticated);
  EXPECT_NE(sig.message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_NE(S3ErrorToStatus(403, Err("RequestTimeTooSkewed"), "GET").message().find("clock"),
            std::string::npos);
  EXPECT_EQ(S3ErrorToStatus(403, Err("AccessDenied"), "GET").code(), core::Code::kPermissionDenied);
  EXPECT_EQ(S3ErrorToStatus(403, Err("InvalidAccessKeyId"), "GET").code(),
            core::Code::kUnauthenticated);
  EXPECT_EQ(S3ErrorToStatus(412, Err("PreconditionFailed"), "GET").code(),
            core::Code::kFailedPrecondition);
  const auto slow = S3ErrorToStatus(503, Err("SlowDown"), "PUT");
  EXPECT_TRUE(slow.retryable());
  EXPECT_EQ(slow.code(), core::Code::kUnavailable);
  EXPECT_TRUE(S3ErrorToStatus(500, Err("InternalError"), "PUT").retryable());
  EXPECT_FALSE(S3ErrorToStatus(400, Err("InvalidArgument"), "PUT").retryable());
}

TEST(S3Xml, MultipartBodies) {
  auto id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBsb2FkSUQ</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkSUQ");
  auto etag = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><ETag>\"abc-3\"</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok());
  EXPECT_EQ(*etag, "abc-3");
  // 200 OK with an <Error> body is a failure (retryable when the server says so).
  auto err = ParseCompleteMultipartUpload(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  ASSERT_FALSE(err.ok());
  EXPECT_TRUE(err.status().retryable());
  auto bad = ParseCompleteMultipartUpload("<Error><Code>InvalidPart</Code></Error>");
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(bad.status().retryable());

  auto parts = ParseListParts(
      "<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2"
      "</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag><Size>5242880"
      "</Size></Part><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><Size>7</Size></Part>"
      "</ListPartsResult>");
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->parts.size(), 2u);
  EXPECT_EQ(parts->parts[1].number, 2);
  EXPECT_EQ(parts->parts[0].etag, "e1");
  EXPECT_EQ(parts->parts[0].size, 5242880u);
  EXPECT_EQ(parts->next_part_number_marker, "2");

  const std::vector<PartInfo> in = {{1, "e1", 0}, {2, "e&2", 0}};
  EXPECT_EQ(BuildCompleteMultipartUpload(in),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"e&amp;2\"</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3Xml, DeleteObjects) {
  const std::vector<std::string> keys = {"a<b", "c"};
  EXPECT_NE(BuildDeleteObjects(keys).find("<Key>a&lt;b</Key>"), std::string::npos);
  auto failed = ParseDeleteResult(
      "<DeleteResult><Deleted><Key>c</Key></Deleted><Error><Key>a</Key><Code>AccessDenied"
      "</Code><Message>no</Message></Error></DeleteResult>");
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0], "a: AccessDenied no");
}

}  // namespace
}  // namespace sdxl::storage
