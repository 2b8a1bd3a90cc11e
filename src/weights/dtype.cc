#include "weights/dtype.h"

#include <array>
#include <string>

namespace sdxl::weights {
namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  int bits;
};

constexpr std::array<DTypeRow, 22> kRows = {{
    {DType::kBool, "BOOL", 8},
    {DType::kF4, "F4", 4},
    {DType::kF6_E2M3, "F6_E2M3", 6},
    {DType::kF6_E3M2, "F6_E3M2", 6},
    {DType::kU8, "U8", 8},
    {DType::kI8, "I8", 8},
    {DType::kF8_E5M2, "F8_E5M2", 8},
    {DType::kF8_E4M3, "F8_E4M3", 8},
    {DType::kF8_E8M0, "F8_E8M0", 8},
    {DType::kF8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {DType::kF8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {DType::kI16, "I16", 16},
    {DType::kU16, "U16", 16},
    {DType::kF16, "F16", 16},
    {DType::kBF16, "BF16", 16},
    {DType::kI32, "I32", 32},
    {DType::kU32, "U32", 32},
    {DType::kF32, "F32", 32},
    {DType::kC64, "C64", 64},
    {DType::kF64, "F64", 64},
    {DType::kI64, "I64", 64},
    {DType::kU64, "U64", 64},
}};

constexpr std::array<DType, 22> MakeAll() {
  std::array<DType, 22> out{};
  for (size_t i = 0; i < kRows.size(); ++i) out[i] = kRows[i].dtype;
  return out;
}
constexpr std::array<DType, 22> kAll = MakeAll();

const DTypeRow& Row(DType dtype) { return kRows[static_cast<size_t>(dtype)]; }

}  // namespace

std::span<const DType> AllDTypes() { return kAll; }

std::string_view DTypeName(DType dtype) { return Row(dtype).name; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeRow& row : kRows) {
    if (row.name == name) return row.dtype;
  }
  return std::nullopt;
}

int DTypeBits(DType dtype) { return Row(dtype).bits; }

bool IsConvertibleFloat(DType dtype) {
  return dtype == DType::kF64 || dtype == DType::kF32 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

core::Result<std::uint64_t> ByteSizeFor(DType dtype, std::uint64_t num_elements) {
  const std::uint64_t bits = static_cast<std::uint64_t>(DTypeBits(dtype));
  if (num_elements != 0 && num_elements > UINT64_MAX / bits) {
    return core::InvalidArgument("tensor of " + std::to_string(num_elements) + " " +
                                 std::string(DTypeName(dtype)) +
                                 " elements overflows a 64-bit byte size");
  }
  const std::uint64_t total_bits = num_elements * bits;
  if (total_bits % 8 != 0) {
    return core::InvalidArgument(std::to_string(num_elements) + " " +
                                 std::string(DTypeName(dtype)) +
                                 " elements do not fill a whole number of bytes");
  }
  return total_bits / 8;
}

core::Result<std::uint64_t> NumElements(std::span<const std::uint64_t> shape) {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) {
    if (d != 0 && n > UINT64_MAX / d) {
      return core::InvalidArgument("tensor shape overflows a 64-bit element count");
    }
    n *= d;
  }
  return n;
}

}  // namespace sdxl::weights
