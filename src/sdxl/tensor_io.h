#pragma once
// Reading and writing named tensors as safetensors files (test fixtures, parity drivers, dumps).
//
// Uses the weights module's strict reader and atomic writer. Supported dtypes: F32, F16, BF16,
// F64, I64, I32, I16, I8, U8, BOOL (sdxl/torch_dtype.h). Tensors are returned on the CPU, owned
// by the caller. Thread-safe (no shared state).

#include <filesystem>
#include <map>
#include <string>

#include "core/status.h"
#include "sdxl/torch_pch.h"

namespace sdxl::sdxl {

[[nodiscard]] core::Result<std::map<std::string, torch::Tensor>> ReadTensors(
    const std::filesystem::path& path);

[[nodiscard]] core::Status WriteTensors(const std::filesystem::path& path,
                                        const std::map<std::string, torch::Tensor>& tensors);

}  // namespace sdxl::sdxl
