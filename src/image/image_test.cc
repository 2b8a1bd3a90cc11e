#include "image/image.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

namespace sdxl::image {
namespace {

// A smooth gradient with a sharp diagonal edge: realistic for lossy codecs, and every pixel
// differs from its neighbours so a row/column mix-up shows.
Image TestImage(int w, int h) {
  Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / (w - 1));
      p[1] = static_cast<uint8_t>(y * 255 / (h - 1));
      p[2] = x > y ? 200 : 30;
    }
  }
  return img;
}

double MeanAbsDiff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) sum += std::abs(int(a.rgb[i]) - int(b.rgb[i]));
  return sum / static_cast<double>(a.rgb.size());
}

TEST(ImageTest, PngRoundTripIsExact) {
  const Image img = TestImage(67, 45);  // odd sizes: no row padding assumptions
  auto png = EncodePng(img);
  ASSERT_TRUE(png.ok()) << png.status().message();
  ASSERT_GT(png->size(), 8u);
  EXPECT_EQ((*png)[1], 'P');
  auto back = DecodePng(*png);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->width, 67);
  EXPECT_EQ(back->height, 45);
  EXPECT_EQ(back->rgb, img.rgb);
}

TEST(ImageTest, JpegRoundTripIsCloseAndQualityMatters) {
  const Image img = TestImage(128, 96);
  auto hi = EncodeJpeg(img, 95);
  auto lo = EncodeJpeg(img, 10);
  ASSERT_TRUE(hi.ok() && lo.ok());
  EXPECT_LT(lo->size(), hi->size());
  auto back_hi = DecodeJpeg(*hi);
  auto back_lo = DecodeJpeg(*lo);
  ASSERT_TRUE(back_hi.ok() && back_lo.ok()) << back_hi.status().message();
  EXPECT_EQ(back_hi->width, 128);
  EXPECT_EQ(back_hi->height, 96);
  EXPECT_LT(MeanAbsDiff(img, *back_hi), 2.0);
  EXPECT_GT(MeanAbsDiff(img, *back_lo), MeanAbsDiff(img, *back_hi));
}

TEST(ImageTest, WebpRoundTripIsCloseAndQualityMatters) {
  const Image img = TestImage(128, 96);
  auto hi = EncodeWebp(img, 95);
  auto lo = EncodeWebp(img, 5);
  ASSERT_TRUE(hi.ok() && lo.ok());
  EXPECT_EQ(std::string(hi->begin(), hi->begin() + 4), "RIFF");
  EXPECT_LT(lo->size(), hi->size());
  auto back = DecodeWebp(*hi);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->width, 128);
  EXPECT_EQ(back->height, 96);
  EXPECT_LT(MeanAbsDiff(img, *back), 3.0);
}

TEST(ImageTest, EncodeDispatchAndFormatNames) {
  const Image img = TestImage(16, 16);
  auto f = ParseFormat("JPG");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, Format::kJpeg);
  EXPECT_EQ(Extension(*f), "jpg");
  EXPECT_EQ(MimeType(Format::kWebp), "image/webp");
  EXPECT_FALSE(ParseFormat("gif").ok());
  auto bytes = Encode(img, Format::kPng, 0);
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(DecodePng(*bytes).ok());
}

TEST(ImageTest, InvalidInputsAreErrors) {
  Image bad = TestImage(8, 8);
  bad.rgb.pop_back();
  EXPECT_EQ(EncodePng(bad).status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(Image{0, 5, {}}, 80).status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(EncodeWebp(Image{20000, 1, std::vector<uint8_t>(60000)}, 80).status().code(),
            core::Code::kInvalidArgument);
}

TEST(ImageTest, CorruptDataIsDataLoss) {
  const std::vector<uint8_t> junk = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(DecodePng(junk).status().code(), core::Code::kDataLoss);
  EXPECT_EQ(DecodeJpeg(junk).status().code(), core::Code::kDataLoss);
  EXPECT_EQ(DecodeWebp(junk).status().code(), core::Code::kDataLoss);
  auto png = EncodePng(TestImage(32, 32));
  ASSERT_TRUE(png.ok());
  std::vector<uint8_t> truncated(png->begin(), png->begin() + png->size() / 2);
  EXPECT_EQ(DecodePng(truncated).status().code(), core::Code::kDataLoss);
  auto jpg = EncodeJpeg(TestImage(32, 32), 90);
  ASSERT_TRUE(jpg.ok());
  // Cut inside the headers: no image can be decoded.
  std::vector<uint8_t> jtrunc(jpg->begin(), jpg->begin() + 40);
  EXPECT_EQ(DecodeJpeg(jtrunc).status().code(), core::Code::kDataLoss);
}

}  // namespace
}  // namespace sdxl::image
