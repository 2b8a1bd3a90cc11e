#pragma once
// DType: every element type the safetensors format defines (safetensors 0.8 / Rust `Dtype`), with
// its on-disk name, bit width and whether it is a floating-point type we can convert.
//
// Pure functions over an enum; thread-safe. Names are the exact safetensors header strings
// ("F32", "BF16", "F8_E4M3", ...). Sub-byte types (F4, F6_*) pack elements into bytes, so byte
// sizes must go through ByteSizeFor(), never `count * size`.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/status.h"

namespace sdxl::weights {

enum class DType : std::uint8_t {
  kBool,
  kF4,       // float4_e2m1 (2 per byte)
  kF6_E2M3,  // 6-bit float
  kF6_E3M2,  // 6-bit float
  kU8,
  kI8,
  kF8_E5M2,
  kF8_E4M3,  // float8_e4m3fn
  kF8_E8M0,  // float8_e8m0fnu (scale type)
  kF8_E4M3FNUZ,
  kF8_E5M2FNUZ,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kC64,  // complex64 (two F32)
  kF64,
  kI64,
  kU64,
};

// All dtypes, in the Rust enum order (which is also the writer's alignment order).
std::span<const DType> AllDTypes();

// The safetensors header string, e.g. "BF16".
std::string_view DTypeName(DType dtype);
// Parses a safetensors dtype string (case-sensitive, exact); nullopt when unknown.
std::optional<DType> ParseDType(std::string_view name);

// Bits per element: 4, 6, 8, 16, 32 or 64.
int DTypeBits(DType dtype);

// True for F64, F32, F16 and BF16: the types ConvertSafetensorsFile converts between.
bool IsConvertibleFloat(DType dtype);

// Bytes needed by `num_elements` elements. InvalidArgument on overflow, or when sub-byte elements
// do not fill a whole number of bytes (safetensors' MisalignedSlice).
core::Result<std::uint64_t> ByteSizeFor(DType dtype, std::uint64_t num_elements);

// Product of `shape` (1 for a scalar shape []). InvalidArgument on u64 overflow.
core::Result<std::uint64_t> NumElements(std::span<const std::uint64_t> shape);

}  // namespace sdxl::weights
