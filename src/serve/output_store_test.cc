#include "serve/output_store.h"

#include <gtest/gtest.h>

#include <set>

#include "http/testing/local_server.h"

namespace sdxl::serve {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(Bytes("")), "");
  EXPECT_EQ(Base64Encode(Bytes("f")), "Zg==");
  EXPECT_EQ(Base64Encode(Bytes("fo")), "Zm8=");
  EXPECT_EQ(Base64Encode(Bytes("foo")), "Zm9v");
  EXPECT_EQ(Base64Encode(Bytes("foob")), "Zm9vYg==");
  EXPECT_EQ(Base64Encode(Bytes("fooba")), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode(Bytes("foobar")), "Zm9vYmFy");
  const std::uint8_t high[] = {0xff, 0xfe, 0xfd};
  EXPECT_EQ(Base64Encode(high), "//79");
}

TEST(DataUrlOutputStore, ReturnsDataUrl) {
  auto store = MakeDataUrlOutputStore();
  auto url = store->Store("out-x.png", Bytes("hello"), "image/png");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "data:image/png;base64,aGVsbG8=");
}

TEST(RandomOutputName, ShortUniqueWithExtension) {
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) names.insert(RandomOutputName("webp"));
  EXPECT_EQ(names.size(), 1000u);
  const std::string n = *names.begin();
  EXPECT_EQ(n.rfind("out-", 0), 0u);
  EXPECT_EQ(n.size(), 4u + 22u + 5u);
  EXPECT_EQ(n.substr(n.size() - 5), ".webp");
}

TEST(UploadUrlOutputStore, PutsBytesAndStripsQuery) {
  http::testing::LocalServer server;
  std::string got_body, got_type, got_path;
  server.on().Put(R"(/up/(.+))", [&](const httplib::Request& req, httplib::Response& res) {
    got_body = req.body;
    got_type = req.get_header_value("Content-Type");
    got_path = req.path;
    res.status = 200;
  });
  auto store = MakeUploadUrlOutputStore(server.url("/up"));
  auto url = store->Store("out-a.png", Bytes("PNGDATA"), "image/png");
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(*url, server.url("/up/out-a.png"));
  EXPECT_EQ(got_body, "PNGDATA");
  EXPECT_EQ(got_type, "image/png");
  EXPECT_EQ(got_path, "/up/out-a.png");
}

TEST(UploadUrlOutputStore, LocationHeaderWinsAndFailuresAreErrors) {
  http::testing::LocalServer server;
  int calls = 0;
  server.on().Put(R"(/loc/(.+))", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("Location", "https://cdn.example/x.png?sig=secret");
    res.status = 201;
  });
  server.on().Put(R"(/bad/(.+))", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 403;
  });
  auto loc = MakeUploadUrlOutputStore(server.url("/loc/"))->Store("a.png", Bytes("x"), "image/png");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(*loc, "https://cdn.example/x.png");
  auto bad = MakeUploadUrlOutputStore(server.url("/bad"))->Store("a.png", Bytes("x"), "image/png");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("403"), std::string::npos);
  EXPECT_EQ(calls, 1);  // 4xx other than 408/429 is not retried
}

}  // namespace
}  // namespace sdxl::serve
