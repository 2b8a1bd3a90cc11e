#include "sdxl/aspect_ratio.h"

#include <gtest/gtest.h>

namespace sdxl::sdxl {
namespace {

TEST(AspectRatio, ScalesLongSideTo1024AndRoundsDownTo32) {
  auto s = SizeForAspectRatio("16:9");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 1024);
  EXPECT_EQ(s->height, 576);  // 832 * 1024/1408 = 605.1 -> 576
  s = SizeForAspectRatio("1:1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 1024);
  EXPECT_EQ(s->height, 1024);
  s = SizeForAspectRatio("3:4");  // 600x800 is scaled up
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 768);
  EXPECT_EQ(s->height, 1024);
  s = SizeForAspectRatio("9:21", 512);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->height, 512);
  EXPECT_EQ(s->width, 192);  // 640 * 512/1536 = 213.3 -> 192
}

TEST(AspectRatio, OtherMultiples) {
  auto s = SizeForAspectRatio("3:2", 64, 8);  // 1216x832 -> 64 x 43.8
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 64);
  EXPECT_EQ(s->height, 40);
  s = SizeForAspectRatio("21:9", 64, 32);  // 26.7 rounds to 0: the multiple is the minimum
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->height, 32);
}

TEST(AspectRatio, UnknownRatioListsChoices) {
  auto s = SizeForAspectRatio("7:3");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("16:9"), std::string::npos);
  EXPECT_EQ(AspectRatioNames().size(), 11u);
}

}  // namespace
}  // namespace sdxl::sdxl
