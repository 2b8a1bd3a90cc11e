#pragma once
// Floating-point dtype conversion (F64 / F32 / F16 / BF16) and streaming conversion of whole
// safetensors files.
//
// Rounding is round-to-nearest-even everywhere, with no flush-to-zero: results equal
// `torch.Tensor.to()` on CPU bit for bit for every non-NaN input (tested against torch). Overflow
// gives +-Inf, Inf stays Inf, -0 stays -0, subnormals are rounded correctly. NaN stays NaN and
// quiet, keeping its sign and the top payload bits (what F16C / AVX512-BF16 hardware does). Torch
// 2.11 agrees on every NaN except two cases: F32 -> BF16 (torch writes 0xFFFF for every NaN) and
// BF16 -> F32 of a signalling NaN (torch keeps it signalling). F64 sources go through F32 first,
// exactly like torch (so F64 -> F16 / BF16 rounds twice, as torch does).
//
// All functions are pure / reentrant; ConvertSafetensorsFile uses bounded memory (a few MiB,
// independent of file size) and writes its output atomically (temp file + rename).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "core/status.h"
#include "weights/dtype.h"
#include "weights/safetensors.h"

namespace sdxl::weights {

// Scalar conversions (bit patterns for the 16-bit types).
std::uint16_t F32ToBF16(float value);
std::uint16_t F32ToF16(float value);
float BF16ToF32(std::uint16_t bits);
float F16ToF32(std::uint16_t bits);

// Converts `in` (elements of `from`, little-endian) into `out` (elements of `to`). Both dtypes
// must be IsConvertibleFloat; `out` must hold exactly as many elements as `in`. InvalidArgument
// otherwise. from == to copies.
core::Status ConvertElements(DType from, DType to, std::span<const std::byte> in,
                             std::span<std::byte> out);

struct ConvertOptions {
  DType target = DType::kBF16;  // must be F64, F32, F16 or BF16
  // Decides per tensor whether to convert (default: every F64/F32/F16/BF16 tensor). Tensors of
  // other dtypes (integers, bool, F8, ...) are always copied unchanged.
  std::function<bool(const TensorInfo&)> should_convert;
  // Extra `__metadata__` entries (override the input's; the input's are kept otherwise).
  std::map<std::string, std::string> extra_metadata;
  // Bytes of input processed per step (memory bound ~ 2x this plus the writer buffer).
  std::size_t chunk_bytes = 4 << 20;
  // Called after each step with (bytes of input data done, total input data bytes).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct ConvertStats {
  std::uint64_t tensors = 0;
  std::uint64_t converted_tensors = 0;
  std::uint64_t input_bytes = 0;  // file sizes
  std::uint64_t output_bytes = 0;
};

// Reads `in` (validated), writes `out` with floating tensors converted to `options.target`, tensor
// names, shapes and metadata kept, in the reference writer's layout. `out` appears only when
// complete. `in` and `out` must differ.
core::Result<ConvertStats> ConvertSafetensorsFile(const std::filesystem::path& in,
                                                  const std::filesystem::path& out,
                                                  const ConvertOptions& options);

}  // namespace sdxl::weights
