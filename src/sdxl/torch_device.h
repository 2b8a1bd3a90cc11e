#pragma once
// The one map from the torch-free load options (pipeline.h: DeviceKind, ComputeDtype) to torch's
// device and dtype: the pipeline's load and the test drivers resolve them the same way.
//
// Header-only (two small functions) so that torch translation units include it without a new one
// to compile. Thread-safe.

#include <torch/cuda.h>

#include "core/status.h"
#include "sdxl/pipeline.h"
#include "sdxl/torch_pch.h"

namespace sdxl::sdxl {

// auto: CUDA device 0 when one is visible, else the CPU. cuda without a visible GPU:
// FailedPrecondition saying what to use instead.
inline core::Result<torch::Device> ResolveDevice(DeviceKind kind) {
  const bool cuda = torch::cuda::is_available();
  if (kind == DeviceKind::kCuda && !cuda) {
    return core::FailedPrecondition(
        "--device cuda was asked but no CUDA GPU is visible; use --device cpu or auto");
  }
  return (kind == DeviceKind::kCuda || (kind == DeviceKind::kAuto && cuda))
             ? torch::Device(torch::kCUDA, 0)
             : torch::Device(torch::kCPU);
}

// auto: fp16 on CUDA, fp32 on the CPU.
inline torch::Dtype ResolveDtype(ComputeDtype dtype, const torch::Device& device) {
  switch (dtype) {
    case ComputeDtype::kFloat32:
      return torch::kFloat32;
    case ComputeDtype::kFloat16:
      return torch::kFloat16;
    case ComputeDtype::kBFloat16:
      return torch::kBFloat16;
    case ComputeDtype::kAuto:
      break;
  }
  return device.is_cuda() ? torch::kFloat16 : torch::kFloat32;
}

}  // namespace sdxl::sdxl
