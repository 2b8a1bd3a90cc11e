#pragma once
// Precompiled header of the sdxl_torch library: the LibTorch headers every model TU needs.
// Parsed once per build; keep it to stable third-party headers only.
#include <ATen/ATen.h>
#include <torch/nn.h>
#include <torch/torch.h>
