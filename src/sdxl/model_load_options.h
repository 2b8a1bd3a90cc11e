#pragma once
// ModelLoadOptions: how LoadUNet, LoadVae (and the text encoders' loaders) build a module from its
// weights: target dtype and device, the file variant, the CPU memory format, and where the bytes
// come from (a folder on disk, or a WeightSource streaming them from the download).
//
// A plain value type; the WeightSource it points to is borrowed and must outlive the load.

#include <string>

#include "sdxl/torch_pch.h"
#include "weights/weight_source.h"

namespace sdxl::sdxl {

struct ModelLoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  std::string variant;  // "fp16": diffusion_pytorch_model.fp16.safetensors
  // Run convolutions in channels-last memory format when the device is the CPU (oneDNN's NHWC
  // kernels are faster; results equal NCHW up to float reassociation).
  bool channels_last_on_cpu = true;
  // Where the weight files' bytes come from (not owned); nullptr: read them from disk.
  weights::WeightSource* source = nullptr;
};

}  // namespace sdxl::sdxl
