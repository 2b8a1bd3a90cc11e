#pragma once
// The one map between the weights module's DType (safetensors dtypes) and torch's dtypes.
//
// Header-only (two switches) so that the torch translation units that need it include it without
// a new one to compile. nullopt for a dtype the other side has no equivalent for (e.g. F8 types,
// torch's complex types). Thread-safe (pure functions).

#include <optional>

#include "sdxl/torch_pch.h"
#include "weights/dtype.h"

namespace sdxl::sdxl {

inline std::optional<torch::Dtype> ToTorchDtype(weights::DType d) {
  switch (d) {
    case weights::DType::kF32:
      return torch::kFloat32;
    case weights::DType::kF16:
      return torch::kFloat16;
    case weights::DType::kBF16:
      return torch::kBFloat16;
    case weights::DType::kF64:
      return torch::kFloat64;
    case weights::DType::kI64:
      return torch::kInt64;
    case weights::DType::kI32:
      return torch::kInt32;
    case weights::DType::kI16:
      return torch::kInt16;
    case weights::DType::kI8:
      return torch::kInt8;
    case weights::DType::kU8:
      return torch::kUInt8;
    case weights::DType::kBool:
      return torch::kBool;
    default:
      return std::nullopt;
  }
}

inline std::optional<weights::DType> FromTorchDtype(torch::Dtype d) {
  switch (d) {
    case torch::kFloat32:
      return weights::DType::kF32;
    case torch::kFloat16:
      return weights::DType::kF16;
    case torch::kBFloat16:
      return weights::DType::kBF16;
    case torch::kFloat64:
      return weights::DType::kF64;
    case torch::kInt64:
      return weights::DType::kI64;
    case torch::kInt32:
      return weights::DType::kI32;
    case torch::kInt16:
      return weights::DType::kI16;
    case torch::kInt8:
      return weights::DType::kI8;
    case torch::kUInt8:
      return weights::DType::kU8;
    case torch::kBool:
      return weights::DType::kBool;
    default:
      return std::nullopt;
  }
}

}  // namespace sdxl::sdxl
