#include "storage/s3_xml.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

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

TEST(S3Xml, ListMultipartUploads) {
  // The shape AWS documents for ListMultipartUploads (namespace, Initiator/Owner ignored).
  auto page = ParseListMultipartUploads(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
      "<NextKeyMarker>my-movie.m2ts</NextKeyMarker><NextUploadIdMarker>YW55IGlkZWEgd2h5"
      "</NextUploadIdMarker><MaxUploads>3</MaxUploads><IsTruncated>true</IsTruncated>"
      "<Upload><Key>my-divisor</Key><UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw"
      "</UploadId><Initiator><ID>arn:aws:iam::111122223333:user/user1</ID></Initiator>"
      "<StorageClass>STANDARD</StorageClass><Initiated>2010-11-10T20:48:33.000Z</Initiated>"
      "</Upload><Upload><Key>my-movie.m2ts</Key><UploadId>YW55IGlkZWEgd2h5</UploadId></Upload>"
      "</ListMultipartUploadsResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->uploads.size(), 2u);
  EXPECT_EQ(page->uploads[0].key, "my-divisor");
  EXPECT_EQ(page->uploads[0].initiated, "2010-11-10T20:48:33.000Z");
  EXPECT_EQ(page->uploads[1].upload_id, "YW55IGlkZWEgd2h5");
  EXPECT_EQ(page->uploads[1].initiated, "");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_key_marker, "my-movie.m2ts");
  EXPECT_EQ(page->next_upload_id_marker, "YW55IGlkZWEgd2h5");

  auto encoded = ParseListMultipartUploads(
      "<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>false"
      "</IsTruncated><Upload><Key>a+b%2Fc%C3%A9</Key><UploadId>1</UploadId></Upload>"
      "</ListMultipartUploadsResult>");
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->uploads.at(0).key, "a b/c\xC3\xA9");

  EXPECT_FALSE(ParseListMultipartUploads("<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
                                         "</ListMultipartUploadsResult>")
                   .ok());  // no UploadId
  EXPECT_FALSE(ParseListMultipartUploads("<ListMultipartUploadsResult><IsTruncated>true"
                                         "</IsTruncated></ListMultipartUploadsResult>")
                   .ok());  // truncated, nowhere to go on
  EXPECT_FALSE(ParseListMultipartUploads("<ListBucketResult/>").ok());
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

// ---------------------------------------------------------------- what the AWS SDKs accept

namespace sdxl::storage {
namespace {

TEST(S3XmlLenient, NamespacesAbsentDefaultOrPrefixed) {
  for (const char* body :
       {"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1"
        "</Size></Contents></ListBucketResult>",
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>"
        "false</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
        "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>a</s3:Key><s3:Size>1"
        "</s3:Size></s3:Contents></s3:ListBucketResult>"}) {
    auto page = ParseListObjectsV2(body);
    ASSERT_TRUE(page.ok()) << body << ": " << page.status().ToString();
    ASSERT_EQ(page->objects.size(), 1u) << body;
    EXPECT_EQ(page->objects[0].key, "a");
    EXPECT_EQ(page->objects[0].size, 1u);
  }
  const S3Error e = ParseS3Error(
      "<s3:Error xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Code>NoSuchKey</s3:Code>"
      "<s3:Message>gone</s3:Message></s3:Error>");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "gone");
}

TEST(S3XmlLenient, ElementOrderFreeAndUnknownElementsIgnored) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><Future><Nested><Key>not-a-key</Key></Nested></Future>"
      "<Contents><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><Size>7</Size>"
      "<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>"
      "<ETag>\"e\"</ETag><Key>z</Key></Contents>"
      "<NextContinuationToken>t</NextContinuationToken><CommonPrefixes><Prefix>p/</Prefix>"
      "</CommonPrefixes><Contents><Key>a</Key><Size>2</Size></Contents>"
      "<IsTruncated>true</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "z");
  EXPECT_EQ(page->objects[0].size, 7u);
  EXPECT_EQ(page->objects[0].etag, "e");
  EXPECT_EQ(page->objects[1].key, "a");
  EXPECT_TRUE(page->truncated);  // IsTruncated after the Contents
  EXPECT_EQ(page->next_continuation_token, "t");
}

TEST(S3XmlLenient, MissingOptionalFieldsAreTolerated) {
  // No IsTruncated (false), no ETag, LastModified, StorageClass, KeyCount, Name, MaxKeys.
  auto page = ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>k</Key><Size>3</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(page->objects[0].etag, "");
  EXPECT_EQ(page->objects[0].last_modified, "");
  // An empty listing may leave everything out.
  auto empty = ParseListObjectsV2("<ListBucketResult/>");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->objects.empty());
  // Booleans in another case or padded.
  auto padded = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated> True </IsTruncated><NextContinuationToken>x"
      "</NextContinuationToken></ListBucketResult>");
  ASSERT_TRUE(padded.ok());
  EXPECT_TRUE(padded->truncated);
  // CompleteMultipartUpload without its (optional) ETag, ListParts without Size.
  auto etag = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><Bucket>b</Bucket></CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  EXPECT_EQ(*etag, "");
  auto parts = ParseListParts(
      "<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></ListPartsResult>");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->parts[0].size, 0u);
  EXPECT_FALSE(parts->truncated);
  // Size is not optional: it is what a listing is for.
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key></Contents>"
                                  "</ListBucketResult>")
                   .ok());
  EXPECT_FALSE(ParseListParts("<ListPartsResult><Part><PartNumber>0</PartNumber></Part>"
                              "</ListPartsResult>")
                   .ok());
}

TEST(S3XmlLenient, EtagsWithOrWithoutQuotes) {
  EXPECT_EQ(StripQuotes("\"abc\""), "abc");
  EXPECT_EQ(StripQuotes("abc"), "abc");
  EXPECT_EQ(StripQuotes("&quot;abc-2&quot;"), "abc-2");
  EXPECT_EQ(StripQuotes("W/\"abc\""), "abc");
  EXPECT_EQ(StripQuotes(" \"abc\"\n"), "abc");
  EXPECT_EQ(StripQuotes("\""), "\"");
  EXPECT_EQ(StripQuotes(""), "");
  auto page = ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size><ETag>plain</ETag></Contents>"
      "<Contents><Key>b</Key><Size>1</Size><ETag>&quot;q&quot;</ETag></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects[0].etag, "plain");
  EXPECT_EQ(page->objects[1].etag, "q");
  auto done = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><ETag>abc-3</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(*done, "abc-3");
}

// moto 5.2.1 names the roots of its CompleteMultipartUpload and CreateMultipartUpload answers
// "...Response" (AWS: "...Result"); the upload had succeeded, yet `cp` failed with "malformed
// CompleteMultipartUpload response" (issue 17). The SDKs never look at the root's name.
TEST(S3XmlLenient, MotoStyleResponseRootsAreAccepted) {
  auto etag = ParseCompleteMultipartUpload(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<CompleteMultipartUploadResponse "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>http://h/b/k</Location>"
      "<Bucket>b</Bucket><Key>k</Key><ETag>\"d41d8cd98f00b204e9800998ecf8427e-3\"</ETag>"
      "</CompleteMultipartUploadResponse>");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  EXPECT_EQ(*etag, "d41d8cd98f00b204e9800998ecf8427e-3");
  auto id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResponse><UploadId>u1</UploadId>"
      "</InitiateMultipartUploadResponse>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "u1");
  // moto's ListParts: <ListPartsResponse>, Initiator/Owner after the parts.
  auto parts = ParseListParts(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ListPartsResponse xmlns=\"http://s3."
      "amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>mp</Key><UploadId>u</UploadId>"
      "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>1</NextPartNumberMarker>"
      "<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber>"
      "<LastModified>2026-12-05T08:17:59.000Z</LastModified><ETag>\"0bbc18cdea1c4aaa17777d441214"
      "774a\"</ETag><Size>10</Size></Part><Initiator><ID>i</ID></Initiator><Owner><ID>o</ID>"
      "</Owner><StorageClass>STANDARD</StorageClass></ListPartsResponse>");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->parts.size(), 1u);
  EXPECT_EQ(parts->parts[0].etag, "0bbc18cdea1c4aaa17777d441214774a");
  EXPECT_EQ(parts->parts[0].size, 10u);
  // SeaweedFS writes the ETag's quotes as numeric character references.
  auto sw = ParseListParts(
      "<ListPartsResult><Part><ETag>&#34;0bbc&#34;</ETag><PartNumber>1</PartNumber></Part>"
      "</ListPartsResult>");
  ASSERT_TRUE(sw.ok());
  EXPECT_EQ(sw->parts[0].etag, "0bbc");
  // But a document of another operation is not taken for a success.
  EXPECT_FALSE(ParseCompleteMultipartUpload("<ListBucketResult/>").ok());
  EXPECT_FALSE(ParseCompleteMultipartUpload("<html><body>502 Bad Gateway</body></html>").ok());
  EXPECT_FALSE(ParseListObjectsV2("<html><body>hi</body></html>").ok());
}

TEST(S3XmlLenient, TwoHundredWithErrorBodyIsAnError) {
  // CompleteMultipartUpload: retryable codes are retried, the others fail at once.
  for (const char* code : {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"}) {
    auto r = ParseCompleteMultipartUpload(std::string("  \n <Error><Code>") + code +
                                          "</Code><Message>m</Message></Error>");
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_TRUE(r.status().retryable()) << code;
    EXPECT_EQ(r.status().service_code(), code);
    EXPECT_NE(r.status().message().find("200 OK with an error body"), std::string::npos);
  }
  for (const char* code :
       {"InvalidPart", "InvalidPartOrder", "NoSuchUpload", "AccessDenied", "EntityTooSmall"}) {
    auto r = ParseCompleteMultipartUpload(std::string("<Error><Code>") + code + "</Code></Error>");
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_FALSE(r.status().retryable()) << code;
  }
  EXPECT_EQ(
      ParseCompleteMultipartUpload("<Error><Code>NoSuchUpload</Code></Error>").status().code(),
      core::Code::kNotFound);
  // An empty or cut 200 body: the server failed after the status line; retry (botocore too).
  for (const char* body : {"", "   \n  ", "<CompleteMultipartUploadResult><ETag>"}) {
    auto r = ParseCompleteMultipartUpload(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_TRUE(r.status().retryable()) << body;
  }
  // CopyObject and UploadPartCopy: the same rule.
  auto copy = ParseCopyResult(
      "<CopyObjectResult><LastModified>2009-10-28T22:32:00Z</LastModified><ETag>\"9b\"</ETag>"
      "</CopyObjectResult>",
      "CopyObject");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ(*copy, "9b");
  auto part = ParseCopyResult("<CopyPartResult><ETag>p</ETag></CopyPartResult>", "UploadPartCopy");
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(*part, "p");
  auto copy_err = ParseCopyResult("<Error><Code>InternalError</Code></Error>", "CopyObject");
  ASSERT_FALSE(copy_err.ok());
  EXPECT_TRUE(copy_err.status().retryable());
  EXPECT_NE(copy_err.status().message().find("CopyObject"), std::string::npos);
  auto part_err = ParseCopyResult("<Error><Code>AccessDenied</Code></Error>", "UploadPartCopy");
  ASSERT_FALSE(part_err.ok());
  EXPECT_FALSE(part_err.status().retryable());
  EXPECT_TRUE(ParseCopyResult("", "CopyObject").status().retryable());
  // Any other 2xx body that is an <Error> is that error, not "malformed".
  auto list = ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), core::Code::kPermissionDenied);
}

TEST(S3XmlLenient, ErrorDocumentShapes) {
  // <ErrorResponse><Error>..</Error></ErrorResponse>, as query-protocol services and some
  // gateways send it.
  const S3Error wrapped = ParseS3Error(
      "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender"
      "</Type><Code>InvalidClientTokenId</Code><Message>bad</Message></Error><RequestId>r"
      "</RequestId></ErrorResponse>");
  EXPECT_EQ(wrapped.code, "InvalidClientTokenId");
  // Code after Message, unknown elements (HostId, StringToSign...) ignored.
  const S3Error sig = ParseS3Error(
      "<Error><AWSAccessKeyId>AK</AWSAccessKeyId><StringToSign>x</StringToSign><Message>m"
      "</Message><Code>SignatureDoesNotMatch</Code><HostId>h</HostId></Error>");
  EXPECT_EQ(sig.code, "SignatureDoesNotMatch");
  EXPECT_EQ(sig.message, "m");
  EXPECT_TRUE(ParseS3Error("<html>403</html>").code.empty());
  EXPECT_TRUE(ParseS3Error("not xml").code.empty());
  // A 403 without a body (HEAD) names both likely causes.
  const auto head = S3ErrorToStatus(403, {}, "HeadBucket s3://b");
  EXPECT_EQ(head.code(), core::Code::kPermissionDenied);
  EXPECT_NE(head.message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_NE(head.message().find("policy"), std::string::npos);
}

TEST(S3XmlLenient, DeleteResultNoSuchKeyIsNotAFailure) {
  auto failed = ParseDeleteResult(
      "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Error><Key>gone</Key>"
      "<Code>NoSuchKey</Code></Error><Deleted><Key>a</Key></Deleted><Error><Code>AccessDenied"
      "</Code><Key>b</Key><Message>no</Message></Error></DeleteResult>");
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0], "b: AccessDenied no");
  auto quiet = ParseDeleteResult("<DeleteResult/>");
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->empty());
}

}  // namespace
}  // namespace sdxl::storage

// ------------------------------------------- recorded fixtures (tests/fixtures/s3/README.md)

namespace sdxl::storage {
namespace {

std::string FixtureDir() {
  std::vector<std::filesystem::path> roots;
  if (const char* src = std::getenv("SDXL_SOURCE_DIR")) roots.emplace_back(src);
  for (auto p = std::filesystem::current_path(); !p.empty(); p = p.parent_path()) {
    roots.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (const auto& root : roots) {
    if (std::filesystem::is_directory(root / "tests/fixtures/s3")) {
      return (root / "tests/fixtures/s3").string();
    }
  }
  return "";
}

std::string Fixture(const std::string& name) {
  const std::string dir = FixtureDir();
  EXPECT_FALSE(dir.empty()) << "tests/fixtures/s3 not found: set SDXL_SOURCE_DIR to the repo";
  std::ifstream in(dir + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << dir << "/" << name;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(S3XmlFixtures, AwsListObjectsV2) {
  auto page = ParseListObjectsV2(Fixture("aws/list_objects_v2.xml"));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "my-image.jpg");
  EXPECT_EQ(page->objects[0].size, 434234u);
  EXPECT_EQ(page->objects[0].etag, "fba9dede5f27731c9771645a39863328");
  EXPECT_EQ(page->objects[0].last_modified, "2009-10-12T17:50:30.000Z");
  EXPECT_EQ(page->objects[1].key, "my-third-image.jpg");  // with Owner, ChecksumAlgorithm
  EXPECT_EQ(page->objects[1].size, 64994u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

  auto encoded = ParseListObjectsV2(Fixture("aws/list_objects_v2_url_encoded.xml"));
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  EXPECT_EQ(encoded->objects.at(0).key, "photos/2006 summer/a+b.jpg");
  EXPECT_FALSE(encoded->truncated);
}

TEST(S3XmlFixtures, AwsMultipartAndCopy) {
  auto id = ParseInitiateMultipartUpload(Fixture("aws/initiate_multipart_upload.xml"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
  auto done = ParseCompleteMultipartUpload(Fixture("aws/complete_multipart_upload.xml"));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, "3858f62230ac3c915f300c664312c11f-9");
  // White space first (S3's keep-alive), then a declaration and an <Error>: retried.
  auto err = ParseCompleteMultipartUpload(Fixture("aws/complete_multipart_upload_200_error.xml"));
  ASSERT_FALSE(err.ok());
  EXPECT_TRUE(err.status().retryable());
  EXPECT_EQ(err.status().service_code(), "InternalError");

  auto copy = ParseCopyResult(Fixture("aws/copy_object.xml"), "CopyObject");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ(*copy, "9b2cf535f27731c974343645a3985328");
  auto copy_err = ParseCopyResult(Fixture("aws/copy_object_200_error.xml"), "CopyObject");
  ASSERT_FALSE(copy_err.ok());
  EXPECT_TRUE(copy_err.status().retryable());
  EXPECT_EQ(copy_err.status().service_code(), "SlowDown");
  auto part = ParseCopyResult(Fixture("aws/upload_part_copy.xml"), "UploadPartCopy");
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(*part, "9b2cf535f27731c974343645a3985328");

  auto parts = ParseListParts(Fixture("aws/list_parts.xml"));
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->parts.size(), 2u);
  EXPECT_EQ(parts->parts[0].number, 2);
  EXPECT_EQ(parts->parts[0].etag, "7778aef83f66abc1fa1e8477f296d394");
  EXPECT_EQ(parts->parts[1].size, 10485760u);
  EXPECT_TRUE(parts->truncated);
  EXPECT_EQ(parts->next_part_number_marker, "3");
}

TEST(S3XmlFixtures, AwsDeleteAndErrors) {
  auto failed = ParseDeleteResult(Fixture("aws/delete_objects.xml"));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0], "sample2.txt: AccessDenied Access Denied");
  const S3Error e = ParseS3Error(Fixture("aws/error_no_such_key.xml"));
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.resource, "/mybucket/myfoto.jpg");
  EXPECT_EQ(e.request_id, "4442587FB7D0A2F9");
  EXPECT_EQ(S3ErrorToStatus(404, e, "GET s3://mybucket/myfoto.jpg").code(), core::Code::kNotFound);
}

TEST(S3XmlFixtures, Tigris) {
  auto page = ParseListObjectsV2(Fixture("tigris/list_objects_v2.xml"));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[1].key, "sdxl-lightning/unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(page->objects[1].size, 5135149760ull);  // > 4 GiB
  EXPECT_EQ(page->objects[1].etag, "0b7a1c2e9f4d3a6b5c8e7d6f5a4b3c2d-1228");
  EXPECT_FALSE(page->truncated);
  const S3Error e = ParseS3Error(Fixture("tigris/error_access_denied.xml"));
  EXPECT_EQ(e.code, "AccessDenied");
  EXPECT_EQ(S3ErrorToStatus(403, e, "GET").code(), core::Code::kPermissionDenied);
}

TEST(S3XmlFixtures, CloudflareR2) {
  auto page = ParseListObjectsV2(Fixture("r2/list_objects_v2.xml"));  // elements reordered
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "sdxl-lightning/model_index.json");
  EXPECT_EQ(page->objects[0].size, 609u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "c2RseGxpZ2h0bmluZy9tb2RlbF9pbmRleC5qc29u");
  auto done = ParseCompleteMultipartUpload(Fixture("r2/complete_multipart_upload.xml"));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, "a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3-42");
  const S3Error e = ParseS3Error(Fixture("r2/error_no_such_bucket.xml"));
  EXPECT_EQ(e.code, "NoSuchBucket");
  EXPECT_EQ(S3ErrorToStatus(404, e, "LIST s3://x").code(), core::Code::kNotFound);
}

}  // namespace
}  // namespace sdxl::storage
