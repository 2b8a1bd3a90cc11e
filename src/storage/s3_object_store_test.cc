// S3ObjectStore against an in-process fake S3 endpoint (cpp-httplib on 127.0.0.1) that injects
// the failures real networks produce: 503 SlowDown, bodies cut mid-way, 412 on If-Match, 200 with
// an <Error> body, paginated listings. The real-server path is covered by the SeaweedFS tests.
#include "storage/s3_object_store.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "http/testing/local_server.h"

namespace sdxl::storage {
namespace {

// The fake S3 endpoint: a local HTTP server whose handlers play S3.
class FakeS3 : public http::testing::LocalServer {
 public:
  httplib::Server& server() { return on(); }
  std::string endpoint() const { return url(); }
};

S3Config TestConfig(const std::string& endpoint) {
  S3Config c;
  c.credentials = {"AKID", "SECRET", ""};
  c.region = "us-east-1";
  c.endpoint_url = endpoint;
  c.max_attempts = 4;
  return c;
}

S3StoreOptions NoSleep() {
  S3StoreOptions o;
  o.sleep = [](std::chrono::milliseconds) {};
  o.http.low_speed_time_s = 5;
  return o;
}

std::unique_ptr<S3ObjectStore> Open(FakeS3& fake, std::string prefix = "") {
  auto s = S3ObjectStore::Create(TestConfig(fake.endpoint()), "bkt", std::move(prefix), NoSleep());
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

// Serves `data` honouring "Range: bytes=a-b"; `cut_after` > 0 makes the first response stop after
// that many body bytes (a reset mid-body).
void ServeObject(httplib::Server& srv, const std::string& path, std::string data,
                 std::atomic<int>* requests, std::vector<std::string>* ranges, std::mutex* mu,
                 size_t cut_after, std::atomic<int>* failures_left) {
  srv.Get(path, [=](const httplib::Request& req, httplib::Response& res) {
    ++*requests;
    {
      std::lock_guard<std::mutex> lock(*mu);
      ranges->push_back(req.get_header_value("Range"));
    }
    if (failures_left != nullptr && failures_left->fetch_sub(1) > 0) {
      res.status = 503;
      res.set_content("<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>",
                      "application/xml");
      return;
    }
    EXPECT_TRUE(req.has_header("Authorization"));
    EXPECT_TRUE(req.has_header("x-amz-content-sha256"));
    // httplib applies the Range header itself (206 + Content-Range) over the full content.
    size_t start = 0;
    if (req.has_header("Range")) {
      std::sscanf(req.get_header_value("Range").c_str(), "bytes=%zu-", &start);
    }
    const bool cut = cut_after > 0 && *requests == 1;
    res.set_content_provider(data.size(), "application/octet-stream",
                             [=](size_t offset, size_t length, httplib::DataSink& sink) {
                               if (cut && offset >= start + cut_after) return false;  // reset
                               size_t n = length;
                               if (cut) n = std::min(n, start + cut_after - offset);
                               n = std::min<size_t>(n, 64 * 1024);
                               sink.write(data.data() + offset, n);
                               return true;
                             });
  });
}

TEST(S3ObjectStore, PathStyleUrlsEncodeKeysOnce) {
  FakeS3 fake;
  auto store = Open(fake, "models/x");
  EXPECT_EQ(store->ObjectUrl("a b+c%/ü"), fake.endpoint() + "/bkt/models/x/a%20b%2Bc%25/%C3%BC");
  EXPECT_EQ(store->Describe(), "s3://bkt/models/x");
  std::string seen;
  fake.server().Put(R"(/bkt/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.path;  // httplib decodes the path
    res.set_header("ETag", "\"etag1\"");
  });
  auto etag = store->Put("a b+c%/ü", "data");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  EXPECT_EQ(*etag, "etag1");
  EXPECT_EQ(seen, "/bkt/models/x/a b+c%/ü");
}

TEST(S3ObjectStore, VirtualHostedUrl) {
  S3Config c = TestConfig("https://t3.storage.dev");
  c.max_attempts = 1;
  auto store = S3ObjectStore::Create(c, "my-bucket", "", NoSleep());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->ObjectUrl("k/v.bin"), "https://my-bucket.t3.storage.dev/k/v.bin");
}

TEST(S3ObjectStore, RetriesSlowDownThenSucceeds) {
  FakeS3 fake;
  std::atomic<int> requests{0}, failures{2};
  std::vector<std::string> ranges;
  std::mutex mu;
  const std::string data(300000, 'z');
  ServeObject(fake.server(), "/bkt/obj", data, &requests, &ranges, &mu, 0, &failures);
  auto store = Open(fake);
  auto got = store->GetObject("obj");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  EXPECT_EQ(requests.load(), 3);
}

TEST(S3ObjectStore, GivesUpAfterMaxAttemptsWithClearMessage) {
  FakeS3 fake;
  std::atomic<int> requests{0}, failures{100};
  std::vector<std::string> ranges;
  std::mutex mu;
  ServeObject(fake.server(), "/bkt/obj", "x", &requests, &ranges, &mu, 0, &failures);
  auto store = Open(fake);
  auto got = store->GetObject("obj");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(requests.load(), 4);  // max_attempts
  EXPECT_TRUE(got.status().retryable());
  EXPECT_NE(got.status().message().find("SlowDown"), std::string::npos);
}

// A 900000-byte range whose first response is cut after 200000 bytes must come back whole, the
// retry asking exactly for the rest. `lend`: the caller also lends memory (ReadOptions::buffer,
// the zero-copy path the transfer engine uses); the bytes must then land there, never past the
// range, with the sink unused.
void CheckReadResumesAfterReset(bool lend) {
  FakeS3 fake;
  std::atomic<int> requests{0};
  std::vector<std::string> ranges;
  std::mutex mu;
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 251);
  ServeObject(fake.server(), "/bkt/obj", data, &requests, &ranges, &mu, 200000, nullptr);
  auto store = Open(fake);
  std::string got;
  std::size_t sink_bytes = 0;
  std::vector<char> window(100000);  // more than is left near the end of the range
  http::BodyBuffer buffer;
  buffer.space = [&] { return std::span<char>(window.data(), window.size()); };
  buffer.commit = [&](std::size_t n) {
    got.append(window.data(), n);
    return true;
  };
  ReadOptions ro;
  if (lend) ro.buffer = &buffer;
  core::Status st = store->GetRange(
      "obj", 1000, 900000,
      [&](std::string_view c) {
        sink_bytes += c.size();
        got.append(c);
        return true;
      },
      ro);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(got == data.substr(1000, 900000)) << got.size() << " bytes";
  EXPECT_EQ(sink_bytes, lend ? 0u : 900000u);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "bytes=1000-900999");
  // The retry starts exactly where the cut body stopped.
  size_t resumed = 0;
  std::sscanf(ranges[1].c_str(), "bytes=%zu-", &resumed);
  EXPECT_GT(resumed, 1000u);
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(resumed) + "-900999");
}

TEST(S3ObjectStore, RangedReadResumesFromLastByteAfterReset) { CheckReadResumesAfterReset(false); }

TEST(S3ObjectStore, RangedReadIntoLentBufferResumesAfterReset) { CheckReadResumesAfterReset(true); }

TEST(S3ObjectStore, IfMatchMismatchIsNotRetried) {
  FakeS3 fake;
  std::atomic<int> requests{0};
  fake.server().Get("/bkt/obj", [&](const httplib::Request& req, httplib::Response& res) {
    ++requests;
    EXPECT_EQ(req.get_header_value("If-Match"), "\"old\"");
    res.status = 412;
    res.set_content("<Error><Code>PreconditionFailed</Code></Error>", "application/xml");
  });
  auto store = Open(fake);
  ReadOptions ro;
  ro.if_match = "old";
  core::Status st = store->GetRange(
      "obj", 0, 10, [](std::string_view) { return true; }, ro);
  EXPECT_EQ(st.code(), core::Code::kFailedPrecondition);
  EXPECT_EQ(requests.load(), 1);
}

TEST(S3ObjectStore, HeadMapsStatusesWithoutBodies) {
  FakeS3 fake;
  fake.server().Get("/bkt/there", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("ETag", "\"abc\"");
    res.set_content(std::string(1234, 'a'), "application/octet-stream");
  });
  fake.server().Get("/bkt/denied",
                    [](const httplib::Request&, httplib::Response& res) { res.status = 403; });
  auto store = Open(fake);
  auto head = store->Head("there");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 1234u);
  EXPECT_EQ(head->etag, "abc");
  EXPECT_EQ(store->Head("missing").status().code(), core::Code::kNotFound);
  EXPECT_EQ(store->Head("denied").status().code(), core::Code::kPermissionDenied);
}

TEST(S3ObjectStore, ListFollowsContinuationTokensAndStripsRoot) {
  FakeS3 fake;
  std::vector<std::string> tokens;
  fake.server().Get("/bkt", [&](const httplib::Request& req, httplib::Response& res) {
    EXPECT_EQ(req.get_param_value("list-type"), "2");
    EXPECT_EQ(req.get_param_value("prefix"), "root/sub");
    const std::string token = req.get_param_value("continuation-token");
    tokens.push_back(token);
    if (token.empty()) {
      res.set_content(
          "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t 2/+"
          "</NextContinuationToken><Contents><Key>root/sub/b</Key><Size>2</Size></Contents>"
          "</ListBucketResult>",
          "application/xml");
    } else {
      res.set_content(
          "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>root/sub/a</Key>"
          "<Size>1</Size><ETag>\"e\"</ETag></Contents></ListBucketResult>",
          "application/xml");
    }
  });
  auto store = Open(fake, "root");
  auto list = store->List("sub");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].key, "sub/a");  // sorted, relative to the root
  EXPECT_EQ((*list)[1].key, "sub/b");
  EXPECT_EQ(tokens, (std::vector<std::string>{"", "t 2/+"}));
}

TEST(S3ObjectStore, CompleteWith200ErrorBodyIsRetried) {
  FakeS3 fake;
  std::atomic<int> completes{0};
  fake.server().Post("/bkt/k", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("uploads")) {
      res.set_content(
          "<InitiateMultipartUploadResult><UploadId>U1</UploadId>"
          "</InitiateMultipartUploadResult>",
          "application/xml");
      return;
    }
    EXPECT_EQ(req.get_param_value("uploadId"), "U1");
    EXPECT_NE(req.body.find("<PartNumber>1</PartNumber><ETag>\"p1\"</ETag>"), std::string::npos);
    if (++completes == 1) {
      res.set_content("<Error><Code>InternalError</Code><Message>try again</Message></Error>",
                      "application/xml");  // status 200
    } else {
      res.set_content(
          "<CompleteMultipartUploadResult><ETag>\"final-1\"</ETag>"
          "</CompleteMultipartUploadResult>",
          "application/xml");
    }
  });
  fake.server().Put("/bkt/k", [&](const httplib::Request& req, httplib::Response& res) {
    EXPECT_EQ(req.get_param_value("partNumber"), "1");
    EXPECT_EQ(req.body, "part-data");
    res.set_header("ETag", "\"p1\"");
  });
  auto store = Open(fake);
  auto id = store->CreateMultipartUpload("k");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto etag = store->UploadPart("k", *id, 1, "part-data");
  ASSERT_TRUE(etag.ok()) << etag.status().ToString();
  const std::vector<PartInfo> parts = {{1, *etag, 9}};
  auto done = store->CompleteMultipartUpload("k", *id, parts);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, "final-1");
  EXPECT_EQ(completes.load(), 2);
}

TEST(S3ObjectStore, ConnectionRefusedIsRetryableUnavailable) {
  S3Config c = TestConfig("http://127.0.0.1:1");
  c.max_attempts = 2;
  auto store = S3ObjectStore::Create(c, "b", "", NoSleep());
  ASSERT_TRUE(store.ok());
  auto head = (*store)->Head("k");
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.status().code(), core::Code::kUnavailable);
  EXPECT_NE(head.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST(S3ObjectStore, PresignWithInjectedClock) {
  S3Config c = TestConfig("https://s3.amazonaws.com");
  c.credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  S3StoreOptions o = NoSleep();
  o.clock = [] { return std::chrono::system_clock::from_time_t(1369353600); };
  auto store = S3ObjectStore::Create(c, "examplebucket", "", o);
  ASSERT_TRUE(store.ok());
  auto url = (*store)->Presign("test.txt", PresignMethod::kGet, std::chrono::seconds(86400));
  ASSERT_TRUE(url.ok());
  // The S3 API reference's example (virtual-hosted, us-east-1).
  EXPECT_EQ(*url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  EXPECT_FALSE((*store)->Presign("k", PresignMethod::kGet, std::chrono::seconds(604801)).ok());
}

TEST(S3ObjectStore, MissingCredentialsFailAtOpen) {
  S3Config c;
  auto store = S3ObjectStore::Create(c, "b", "", {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), core::Code::kUnauthenticated);
}

// ---------------------------------------------------------------------- interop (issue 17)

TEST(S3ObjectStore, HeadOfKeyInMissingBucketSaysBucket) {
  FakeS3 fake;  // no handlers: HEAD /bkt/k and HEAD /bkt are both 404 without a body
  auto store = Open(fake);
  auto head = store->Head("k");
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.status().code(), core::Code::kNotFound);
  EXPECT_NE(head.status().message().find("bucket does not exist"), std::string::npos)
      << head.status().message();

  FakeS3 with_bucket;
  with_bucket.server().Get("/bkt", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<ListBucketResult/>", "application/xml");
  });
  auto store2 = Open(with_bucket);
  auto missing_key = store2->Head("k");
  ASSERT_FALSE(missing_key.ok());
  EXPECT_NE(missing_key.status().message().find("no such object"), std::string::npos)
      << missing_key.status().message();
}

TEST(S3ObjectStore, DeleteIsIdempotentForKeysButNotForBuckets) {
  FakeS3 fake;
  fake.server().Delete("/bkt/gone", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("<Error><Code>NoSuchKey</Code></Error>", "application/xml");
  });
  fake.server().Delete("/bkt/k", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(
        "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not "
        "exist</Message></Error>",
        "application/xml");
  });
  auto store = Open(fake);
  EXPECT_TRUE(store->Delete("gone").ok());
  const core::Status st = store->Delete("k");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), core::Code::kNotFound);
  EXPECT_NE(st.message().find("bucket does not exist"), std::string::npos) << st.message();
}

// moto answers <CompleteMultipartUploadResponse>: the upload succeeded and must be reported so.
TEST(S3ObjectStore, CompleteAcceptsMotoStyleRoot) {
  FakeS3 fake;
  fake.server().Post("/bkt/k", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<CompleteMultipartUploadResponse "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>l</Location><Bucket>bkt"
        "</Bucket><Key>k</Key><ETag>\"abc-1\"</ETag></CompleteMultipartUploadResponse>",
        "application/xml");
  });
  auto store = Open(fake);
  const std::vector<PartInfo> parts = {{1, "p1", 9}};
  auto done = store->CompleteMultipartUpload("k", "U1", parts);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, "abc-1");
}

// The first Complete did complete the upload but its answer was a 200 with InternalError; the
// retry finds NoSuchUpload. The object is there with exactly the ETag these parts make: success.
TEST(S3ObjectStore, CompleteRetryAfterLostSuccessChecksTheObject) {
  FakeS3 fake;
  std::atomic<int> completes{0};
  const std::string part_etag = "28dc3bc3706f8fa2ee39cb3e1234f02f";  // md5("part-data")
  const std::string final_etag = "5298e0c87f9c1de782b0feedae806642-1";
  std::atomic<bool> object_etag_matches{true};
  fake.server().Post("/bkt/k", [&](const httplib::Request&, httplib::Response& res) {
    if (++completes == 1) {
      res.set_content("<Error><Code>InternalError</Code></Error>", "application/xml");
    } else {
      res.status = 404;
      res.set_content("<Error><Code>NoSuchUpload</Code></Error>", "application/xml");
    }
  });
  fake.server().Get("/bkt/k", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("ETag", "\"" + (object_etag_matches ? final_etag : "other-1") + "\"");
    res.set_content("part-data", "application/octet-stream");
  });
  auto store = Open(fake);
  const std::vector<PartInfo> parts = {{1, part_etag, 9}};
  auto done = store->CompleteMultipartUpload("k", "U1", parts);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, final_etag);
  EXPECT_EQ(completes.load(), 2);

  // An object with another ETag (someone else's upload): the NoSuchUpload stands.
  completes = 0;
  object_etag_matches = false;
  auto lost = store->CompleteMultipartUpload("k", "U1", parts);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().service_code(), "NoSuchUpload");
}

}  // namespace
}  // namespace sdxl::storage
