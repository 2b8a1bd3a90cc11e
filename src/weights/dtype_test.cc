#include "weights/dtype.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sdxl::weights {
namespace {

TEST(DType, NamesRoundTripAndAreUnique) {
  std::set<std::string> names;
  ASSERT_EQ(AllDTypes().size(), 22u);
  for (DType d : AllDTypes()) {
    auto name = std::string(DTypeName(d));
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(ParseDType(name), d);
  }
  EXPECT_FALSE(ParseDType("f32").has_value());
  EXPECT_FALSE(ParseDType("F8").has_value());
  EXPECT_FALSE(ParseDType("").has_value());
  EXPECT_EQ(ParseDType("F8_E4M3"), DType::kF8_E4M3);
  EXPECT_EQ(ParseDType("F8_E8M0"), DType::kF8_E8M0);
}

TEST(DType, BitSizesMatchTheSpec) {
  EXPECT_EQ(DTypeBits(DType::kF4), 4);
  EXPECT_EQ(DTypeBits(DType::kF6_E2M3), 6);
  EXPECT_EQ(DTypeBits(DType::kBool), 8);
  EXPECT_EQ(DTypeBits(DType::kF8_E5M2FNUZ), 8);
  EXPECT_EQ(DTypeBits(DType::kBF16), 16);
  EXPECT_EQ(DTypeBits(DType::kU32), 32);
  EXPECT_EQ(DTypeBits(DType::kC64), 64);
  EXPECT_EQ(DTypeBits(DType::kU64), 64);
}

TEST(DType, ByteSizes) {
  EXPECT_EQ(*ByteSizeFor(DType::kF32, 6), 24u);
  EXPECT_EQ(*ByteSizeFor(DType::kF4, 2), 1u);
  EXPECT_EQ(*ByteSizeFor(DType::kF6_E3M2, 4), 3u);
  EXPECT_FALSE(ByteSizeFor(DType::kF4, 3).ok());
  EXPECT_FALSE(ByteSizeFor(DType::kF6_E2M3, 1).ok());
  EXPECT_EQ(*ByteSizeFor(DType::kU8, UINT64_MAX / 8), UINT64_MAX / 8);
  EXPECT_FALSE(ByteSizeFor(DType::kF64, UINT64_MAX / 8).ok());
  EXPECT_EQ(*ByteSizeFor(DType::kF64, 0), 0u);
}

TEST(DType, NumElements) {
  std::vector<std::uint64_t> scalar;
  EXPECT_EQ(*NumElements(scalar), 1u);
  std::vector<std::uint64_t> s{2, 3, 4};
  EXPECT_EQ(*NumElements(s), 24u);
  std::vector<std::uint64_t> zero{5, 0, 7};
  EXPECT_EQ(*NumElements(zero), 0u);
  std::vector<std::uint64_t> big{1ull << 32, 1ull << 32};
  EXPECT_FALSE(NumElements(big).ok());
}

TEST(DType, ConvertibleFloats) {
  int n = 0;
  for (DType d : AllDTypes()) n += IsConvertibleFloat(d);
  EXPECT_EQ(n, 4);
  EXPECT_TRUE(IsConvertibleFloat(DType::kBF16));
  EXPECT_FALSE(IsConvertibleFloat(DType::kF8_E4M3));
}

}  // namespace
}  // namespace sdxl::weights
