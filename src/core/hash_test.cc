#include "core/hash.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sdxl::core {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(Sha256, PublishedVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(Sha256Hex(std::string_view("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(std::string_view("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(a);
  EXPECT_EQ(h.FinishHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingEqualsOneShotAtEverySplit) {
  const std::string data = Pattern(300);
  const std::string want = Sha256Hex(data);
  for (size_t split = 0; split <= data.size(); split += 7) {
    Sha256 h;
    h.Update(std::string_view(data).substr(0, split));
    h.Update(std::string_view(data).substr(split));
    EXPECT_EQ(h.FinishHex(), want) << split;
  }
}

TEST(Sha256, MovedHasherKeepsState) {
  Sha256 a;
  a.Update(std::string_view("ab"));
  Sha256 b = std::move(a);
  b.Update(std::string_view("c"));
  EXPECT_EQ(b.FinishHex(), Sha256Hex(std::string_view("abc")));
}

TEST(Xxh3, EmptyInputPublishedValue) {
  // xxhsum's sanity table: XXH3_64bits of an empty input with seed 0.
  EXPECT_EQ(Xxh3_64Of(std::string_view("")), 0x2D06800538D394C2ull);
  EXPECT_EQ(Hex64(Xxh3_64Of(std::string_view(""))), "2d06800538d394c2");
}

TEST(Xxh3, StreamingEqualsOneShotAcrossInternalBlockSizes) {
  // XXH3 switches algorithms at 16, 128, 240 bytes and streams in 1024-byte stripes blocks.
  for (size_t n : {0u, 1u, 3u, 16u, 17u, 128u, 129u, 240u, 241u, 1024u, 5000u}) {
    const std::string data = Pattern(n);
    const uint64_t want = Xxh3_64Of(data);
    for (size_t split : {size_t{0}, n / 3, n / 2, n}) {
      Xxh3_64 h;
      h.Update(std::string_view(data).substr(0, split));
      h.Update(std::string_view(data).substr(split));
      EXPECT_EQ(h.Finish(), want) << n << " " << split;
    }
  }
  EXPECT_NE(Xxh3_64Of(std::string_view("a")), Xxh3_64Of(std::string_view("b")));
}

TEST(Hex, RoundTripAndRejects) {
  EXPECT_EQ(Hex64(0), "0000000000000000");
  EXPECT_EQ(Hex64(0x0123456789abcdefull), "0123456789abcdef");
  EXPECT_EQ(ParseHex64("0123456789ABCDEF"), 0x0123456789abcdefull);
  EXPECT_EQ(ParseHex64("ffffffffffffffff"), UINT64_MAX);
  EXPECT_FALSE(ParseHex64("123").has_value());
  EXPECT_FALSE(ParseHex64("0123456789abcdeg").has_value());
  EXPECT_FALSE(ParseHex64("0123456789abcdef0").has_value());
  const uint8_t bytes[] = {0x00, 0x0f, 0xf0, 0xff};
  EXPECT_EQ(ToHex(bytes), "000ff0ff");
  EXPECT_TRUE(IsSha256Hex(Sha256Hex(std::string_view("x"))));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
}

TEST(Sha256File, HashesFileAndReportsMissing) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sdxl_hash_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string data = Pattern(3 << 20 | 5);  // spans several 1 MiB reads
  {
    std::ofstream f(dir / "f.bin", std::ios::binary);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  auto got = Sha256FileHex((dir / "f.bin").string());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, Sha256Hex(data));
  auto missing = Sha256FileHex((dir / "nope.bin").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sdxl::core
