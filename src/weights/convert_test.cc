#include "weights/convert.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "weights/test_util.h"

namespace sdxl::weights {
namespace {

using testing::Bytes;
using testing::TempDir;

float F(std::uint32_t bits) { return std::bit_cast<float>(bits); }
std::uint32_t U(float f) { return std::bit_cast<std::uint32_t>(f); }

bool IsF16NaN(std::uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF); }
bool IsBF16NaN(std::uint16_t h) { return (h & 0x7F80) == 0x7F80 && (h & 0x7F); }

TEST(F32ToBF16, RoundsToNearestEven) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBF16(F(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(F32ToBF16(F(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(F32ToBF16(F(0x3F808001)), 0x3F81);  // above the tie
  EXPECT_EQ(F32ToBF16(F(0x3F807FFF)), 0x3F80);  // below the tie
  EXPECT_EQ(F32ToBF16(F(0x7F7FFFFF)), 0x7F80);  // FLT_MAX overflows to +Inf
  EXPECT_EQ(F32ToBF16(F(0x7F7F7FFF)), 0x7F7F);  // largest that stays finite
  EXPECT_EQ(F32ToBF16(F(0x00018000)), 0x0002);  // subnormal tie, odd rounds up
  EXPECT_EQ(F32ToBF16(F(0x00008000)), 0x0000);  // subnormal tie, even: zero
  EXPECT_EQ(F32ToBF16(F(0x00000001)), 0x0000);
  EXPECT_EQ(F32ToBF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToBF16(INFINITY), 0x7F80);
  EXPECT_EQ(F32ToBF16(-INFINITY), 0xFF80);
}

TEST(F32ToBF16, NaNStaysQuietNaNWithSign) {
  EXPECT_EQ(F32ToBF16(F(0x7FC00000)), 0x7FC0);
  EXPECT_EQ(F32ToBF16(F(0x7F800001)), 0x7FC0);  // signalling NaN with low payload: quieted
  EXPECT_EQ(F32ToBF16(F(0xFF800001)), 0xFFC0);
  EXPECT_EQ(F32ToBF16(F(0x7FAB0000)), 0x7FEB);  // top payload bits kept
  EXPECT_EQ(F32ToBF16(F(0xFFFFFFFF)), 0xFFFF);
}

TEST(F32ToF16, RoundsToNearestEven) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xC000);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(std::nextafter(65520.0f, 0.0f)), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // tie between max and 2^16: even is Inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(1.0f + 0x1p-11f), 0x3C00);      // tie, even stays
  EXPECT_EQ(F32ToF16(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie, odd rounds up
  EXPECT_EQ(F32ToF16(0x1p-14f), 0x0400);             // smallest normal
  EXPECT_EQ(F32ToF16(0x1p-14f - 0x1p-25f), 0x0400);  // tie into the normal range
  EXPECT_EQ(F32ToF16(0x1p-24f), 0x0001);             // smallest subnormal
  EXPECT_EQ(F32ToF16(0x1p-25f), 0x0000);             // tie, even: zero
  EXPECT_EQ(F32ToF16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(F32ToF16(1.5f * 0x1p-24f), 0x0002);  // subnormal tie, odd rounds up
  EXPECT_EQ(F32ToF16(2.5f * 0x1p-24f), 0x0002);  // subnormal tie, even stays
  EXPECT_EQ(F32ToF16(-0x1p-30f), 0x8000);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(-INFINITY), 0xFC00);
}

TEST(F32ToF16, NaNStaysQuietNaNWithSign) {
  EXPECT_EQ(F32ToF16(F(0x7FC00001)), 0x7E00);
  EXPECT_EQ(F32ToF16(F(0x7F800001)), 0x7E00);
  EXPECT_EQ(F32ToF16(F(0xFF812345)), 0xFE09);
  EXPECT_EQ(F32ToF16(F(0x7FFFFFFF)), 0x7FFF);
}

#ifdef __FLT16_MAX__
TEST(F32ToF16, MatchesCompilerFloat16OnASweepOfAllFloats) {
  // _Float16 conversion (libgcc / F16C) is an independent round-to-nearest-even oracle.
  for (std::uint64_t u = 0; u <= 0xFFFFFFFFull; u += 251) {
    const float f = F(static_cast<std::uint32_t>(u));
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    std::uint16_t want;
    std::memcpy(&want, &h, 2);
    ASSERT_EQ(F32ToF16(f), want) << std::hex << u;
  }
}
#endif

TEST(F32ToBF16, MatchesExactNearestOnASweepOfAllFloats) {
  for (std::uint64_t u = 0; u <= 0xFFFFFFFFull; u += 251) {
    const float f = F(static_cast<std::uint32_t>(u));
    if (!std::isfinite(f)) continue;
    const std::uint16_t lo = static_cast<std::uint16_t>(u >> 16);
    const double x = std::fabs(static_cast<double>(f));
    const double a = std::fabs(static_cast<double>(BF16ToF32(lo)));
    const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);
    // Rounding up from the largest finite magnitude gives Inf, which is still lo + 1.
    const double b = (hi & 0x7F80) == 0x7F80 ? std::ldexp(1.0, 128)
                                             : std::fabs(static_cast<double>(BF16ToF32(hi)));
    std::uint16_t want;
    if (x - a < b - x) {
      want = lo;
    } else if (x - a > b - x) {
      want = hi;
    } else {
      want = (lo & 1) ? hi : lo;
    }
    ASSERT_EQ(F32ToBF16(f), want) << std::hex << u;
  }
}

TEST(Widening, ExactForEveryHalfAndBFloat16Pattern) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float f16 = F16ToF32(bits);
    if (IsF16NaN(bits)) {
      EXPECT_TRUE(std::isnan(f16));
      EXPECT_EQ(std::signbit(f16), (bits & 0x8000) != 0);
      EXPECT_TRUE(IsF16NaN(F32ToF16(f16)));
    } else {
      ASSERT_EQ(F32ToF16(f16), bits) << std::hex << h;
    }
    const float bf = BF16ToF32(bits);
    if (!IsBF16NaN(bits)) {
      EXPECT_EQ(U(bf), static_cast<std::uint32_t>(bits) << 16);
      ASSERT_EQ(F32ToBF16(bf), bits) << std::hex << h;
    } else {
      // NaN: quiet, sign and payload kept.
      EXPECT_EQ(U(bf), (static_cast<std::uint32_t>(bits) << 16) | 0x00400000u);
      EXPECT_EQ(F32ToBF16(bf), bits | 0x40);
    }
  }
  EXPECT_EQ(F16ToF32(0x0001), 0x1p-24f);
  EXPECT_EQ(F16ToF32(0x03FF), 0x3FFp-24f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(U(F16ToF32(0x8000)), 0x80000000u);
  EXPECT_EQ(U(F16ToF32(0x7C01)), 0x7FC02000u);  // signalling NaN comes out quiet
  EXPECT_EQ(U(F16ToF32(0xFE00)), 0xFFC00000u);
  EXPECT_EQ(U(F16ToF32(0x7C00)), 0x7F800000u);
}

// ConvertElements uses vector code (F16C, AVX2 clones) for the common pairs: it must agree with
// the scalar functions on every input, NaNs included, at every length (vector body + tail).
TEST(ConvertElements, VectorPathsMatchScalarOnEveryPattern) {
  std::vector<float> f32;
  for (std::uint64_t u = 0; u <= 0xFFFFFFFFull; u += 65521)
    f32.push_back(F(static_cast<std::uint32_t>(u)));
  for (std::uint32_t u : {0x7F800001u, 0xFFC00001u, 0x7FFFFFFFu, 0x477FF000u, 0x33000000u}) {
    f32.push_back(F(u));
  }
  f32.push_back(0.0f);  // odd length: exercises the scalar tail
  std::vector<std::uint16_t> h16(f32.size()), b16(f32.size());
  ASSERT_TRUE(ConvertElements(DType::kF32, DType::kF16, std::as_bytes(std::span(f32)),
                              std::as_writable_bytes(std::span(h16)))
                  .ok());
  ASSERT_TRUE(ConvertElements(DType::kF32, DType::kBF16, std::as_bytes(std::span(f32)),
                              std::as_writable_bytes(std::span(b16)))
                  .ok());
  for (size_t i = 0; i < f32.size(); ++i) {
    ASSERT_EQ(h16[i], F32ToF16(f32[i])) << std::hex << U(f32[i]);
    ASSERT_EQ(b16[i], F32ToBF16(f32[i])) << std::hex << U(f32[i]);
  }
  std::vector<std::uint16_t> all(65536 + 3);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  std::vector<float> from_h(all.size()), from_b(all.size());
  ASSERT_TRUE(ConvertElements(DType::kF16, DType::kF32, std::as_bytes(std::span(all)),
                              std::as_writable_bytes(std::span(from_h)))
                  .ok());
  ASSERT_TRUE(ConvertElements(DType::kBF16, DType::kF32, std::as_bytes(std::span(all)),
                              std::as_writable_bytes(std::span(from_b)))
                  .ok());
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(U(from_h[i]), U(F16ToF32(all[i]))) << std::hex << all[i];
    ASSERT_EQ(U(from_b[i]), U(BF16ToF32(all[i]))) << std::hex << all[i];
  }
}

TEST(ConvertElements, ConvertsBuffersAndChecksSizes) {
  const float in[4] = {1.0f, -2.5f, 65536.0f, 0x1p-24f};
  std::uint16_t out[4];
  auto in_bytes = std::as_bytes(std::span(in));
  ASSERT_TRUE(
      ConvertElements(DType::kF32, DType::kF16, in_bytes, std::as_writable_bytes(std::span(out)))
          .ok());
  EXPECT_EQ(out[0], 0x3C00);
  EXPECT_EQ(out[1], 0xC100);
  EXPECT_EQ(out[2], 0x7C00);
  EXPECT_EQ(out[3], 0x0001);
  double d[4];
  ASSERT_TRUE(ConvertElements(DType::kF16, DType::kF64, std::as_bytes(std::span(out)),
                              std::as_writable_bytes(std::span(d)))
                  .ok());
  EXPECT_EQ(d[1], -2.5);
  EXPECT_TRUE(std::isinf(d[2]));
  std::uint16_t bf[4];
  ASSERT_TRUE(ConvertElements(DType::kF64, DType::kBF16, std::as_bytes(std::span(d)),
                              std::as_writable_bytes(std::span(bf)))
                  .ok());
  EXPECT_EQ(bf[0], 0x3F80);
  EXPECT_EQ(bf[2], 0x7F80);
  EXPECT_EQ(ConvertElements(DType::kF32, DType::kF16, in_bytes,
                            std::as_writable_bytes(std::span(out)).first(6))
                .code(),
            core::Code::kInvalidArgument);
  EXPECT_FALSE(ConvertElements(DType::kF32, DType::kF16, in_bytes.first(7),
                               std::as_writable_bytes(std::span(out)))
                   .ok());
  EXPECT_FALSE(
      ConvertElements(DType::kI32, DType::kF16, in_bytes, std::as_writable_bytes(std::span(out)))
          .ok());
}

std::string Raw(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

class ConvertFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 1000; ++i) f32_[i] = static_cast<float>(i) * 0.001f - 0.3f;
    for (int i = 0; i < 7; ++i) i64_[i] = (1ll << 40) * i - 5;
    for (int i = 0; i < 10; ++i) f16_[i] = F32ToF16(static_cast<float>(i) / 3.0f);
    auto w = SafetensorsWriter::Create(dir_ / "in.safetensors",
                                       {{"w", DType::kF32, {10, 100}},
                                        {"ids", DType::kI64, {7}},
                                        {"h", DType::kF16, {2, 5}},
                                        {"mask", DType::kBool, {3}},
                                        {"empty", DType::kF32, {0}}},
                                       {{"format", "pt"}, {"note", "keep"}});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (const TensorInfo& t : w->layout().tensors()) {
      std::string bytes;
      if (t.name == "w") bytes = Raw(f32_, sizeof f32_);
      if (t.name == "ids") bytes = Raw(i64_, sizeof i64_);
      if (t.name == "h") bytes = Raw(f16_, sizeof f16_);
      if (t.name == "mask") bytes = std::string("\1\0\1", 3);
      ASSERT_TRUE(w->Write(t.name, Bytes(bytes)).ok());
    }
    auto fin = w->Finish();
    ASSERT_TRUE(fin.ok()) << fin.ToString();
  }

  TempDir dir_;
  float f32_[1000];
  std::int64_t i64_[7];
  std::uint16_t f16_[10];
};

TEST_F(ConvertFileTest, ConvertsFloatsKeepsEverythingElse) {
  ConvertOptions opts;
  opts.target = DType::kBF16;
  opts.chunk_bytes = 100;  // many steps per tensor, not element-aligned for every dtype
  opts.extra_metadata = {{"format", "pt"}, {"sdxl_tigris_dtype", "bf16"}};
  std::uint64_t last_done = 0, last_total = 0;
  opts.progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  };
  auto stats = ConvertSafetensorsFile(dir_ / "in.safetensors", dir_ / "out.safetensors", opts);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->tensors, 5u);
  EXPECT_EQ(stats->converted_tensors, 3u);  // w, h and the zero-sized F32
  EXPECT_EQ(last_done, last_total);
  auto out = SafetensorsFile::Open(dir_ / "out.safetensors");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const auto& h = out->header();
  EXPECT_EQ(stats->output_bytes, h.file_size());
  EXPECT_EQ(h.Find("w")->dtype, DType::kBF16);
  EXPECT_EQ(h.Find("w")->shape, (std::vector<std::uint64_t>{10, 100}));
  EXPECT_EQ(h.Find("h")->dtype, DType::kBF16);
  EXPECT_EQ(h.Find("ids")->dtype, DType::kI64);
  EXPECT_EQ(h.Find("mask")->dtype, DType::kBool);
  EXPECT_EQ(h.Find("empty")->dtype, DType::kBF16);
  EXPECT_EQ(h.metadata().at("note"), "keep");
  EXPECT_EQ(h.metadata().at("sdxl_tigris_dtype"), "bf16");
  auto w = *out->Data("w");
  for (int i = 0; i < 1000; ++i) {
    std::uint16_t v;
    std::memcpy(&v, w.data() + 2 * i, 2);
    ASSERT_EQ(v, F32ToBF16(f32_[i])) << i;
  }
  auto hv = *out->Data("h");
  for (int i = 0; i < 10; ++i) {
    std::uint16_t v;
    std::memcpy(&v, hv.data() + 2 * i, 2);
    ASSERT_EQ(v, F32ToBF16(F16ToF32(f16_[i]))) << i;
  }
  EXPECT_EQ(Raw(out->Data("ids")->data(), 56), Raw(i64_, 56));
  EXPECT_EQ(Raw(out->Data("mask")->data(), 3), std::string("\1\0\1", 3));
}

TEST_F(ConvertFileTest, FilterKeepsChosenTensors) {
  ConvertOptions opts;
  opts.target = DType::kF16;
  opts.should_convert = [](const TensorInfo& t) { return t.name != "w"; };
  auto stats = ConvertSafetensorsFile(dir_ / "in.safetensors", dir_ / "out.safetensors", opts);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  auto out = SafetensorsFile::Open(dir_ / "out.safetensors");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->header().Find("w")->dtype, DType::kF32);
  EXPECT_EQ(Raw(out->Data("w")->data(), 4000), Raw(f32_, 4000));
  EXPECT_EQ(out->header().Find("h")->dtype, DType::kF16);
}

TEST_F(ConvertFileTest, FailuresLeaveNoOutput) {
  ConvertOptions opts;
  auto same = ConvertSafetensorsFile(dir_ / "in.safetensors", dir_ / "in.safetensors", opts);
  EXPECT_EQ(same.status().code(), core::Code::kInvalidArgument);
  opts.target = DType::kI8;
  EXPECT_FALSE(ConvertSafetensorsFile(dir_ / "in.safetensors", dir_ / "o.safetensors", opts).ok());
  opts.target = DType::kBF16;
  std::string bytes = dir_.Read("in.safetensors");
  dir_.Write("trunc.safetensors", bytes.substr(0, bytes.size() - 3));
  auto trunc = ConvertSafetensorsFile(dir_ / "trunc.safetensors", dir_ / "o.safetensors", opts);
  EXPECT_EQ(trunc.status().code(), core::Code::kDataLoss);
  EXPECT_NE(trunc.status().message().find("trunc.safetensors"), std::string::npos);
  auto missing = ConvertSafetensorsFile(dir_ / "nope", dir_ / "o.safetensors", opts);
  EXPECT_EQ(missing.status().code(), core::Code::kNotFound);
  std::vector<std::string> names = dir_.List();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"in.safetensors", "trunc.safetensors"}));
}

}  // namespace
}  // namespace sdxl::weights
