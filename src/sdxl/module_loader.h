#pragma once
// Loading a LibTorch module's parameters and buffers from safetensors files by key name.
//
// Modules in src/sdxl register their submodules under the diffusers/transformers names, so the
// state dict key `text_model.encoder.layers.0.self_attn.q_proj.weight` is both the checkpoint key
// and the module path. Loading is a lookup plus a shape check; every tensor is converted from its
// stored dtype (F32/F16/BF16) to the target dtype and device. Bad checkpoints never half-load a
// module: all keys and shapes are checked before any parameter is written (only a failure while
// the bytes stream in — a download error, out of device memory — can leave it partly written).
// Parameters that already have the target dtype/device are filled in place (no extra memory);
// others get a new tensor of the target dtype/device each, filled the same way.
//
// Not thread-safe with respect to `module` (it is written); the files are only read.

#include "sdxl/torch_pch.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "weights/weight_source.h"

namespace sdxl::sdxl {

class DeviceCopyQueue;  // staging_ring.h

struct ModuleLoadOptions {
  torch::Dtype dtype = torch::kFloat32;  // target dtype of floating-point tensors
  torch::Device device = torch::kCPU;
  // Keys in the files that are not in the module are an error unless they match one of these
  // suffixes (e.g. "embeddings.position_ids", a buffer old transformers versions saved).
  std::vector<std::string> ignore_unexpected_suffixes = {"position_ids"};
  // Module keys missing from the files are an error unless listed here (exact names).
  std::vector<std::string> allow_missing;
  // File key prefixes renamed before lookup, e.g. {"embeddings.", "text_model.embeddings."} for
  // transformers 5.x CLIPTextModel files, which drop the "text_model." prefix.
  std::vector<std::pair<std::string, std::string>> file_prefix_renames;
  // Renames a file key before lookup (after file_prefix_renames), e.g. legacy VAE names.
  std::function<std::string(const std::string&)> rename_key;
  // File keys starting with one of these are skipped silently (e.g. the VAE's encoder when only
  // its decoder is built); their bytes are never converted.
  std::vector<std::string> skip_prefixes;
  // Accept a file tensor whose shape is the model's followed by 1-sized dimensions (legacy VAE
  // attention projections stored as (C, C, 1, 1) convs for (C, C) linears): same bytes.
  bool accept_trailing_ones = false;
  // Gather every tensor's bytes in a host buffer and copy it to the parameter once complete
  // (what CUDA targets always do), also on the CPU. For tests of that path.
  bool stage_whole_tensors = false;
  // Uploads every tensor through a StagingRing on this queue (staging_ring.h; not owned), whatever
  // the target device: tests drive the ring with an asynchronous fake on the CPU. nullptr: CUDA
  // targets go through a ring on a CUDA side stream ($SDXL_CUDA_STAGING=tensor: each tensor
  // through its own pinned buffer instead).
  DeviceCopyQueue* copy_queue = nullptr;
  // Where the files' bytes come from (not owned; weights/weight_source.h). nullptr: read the
  // files from disk (a FolderWeightSource).
  weights::WeightSource* source = nullptr;
};

struct ModuleLoadReport {
  size_t tensors_loaded = 0;
  uint64_t bytes_read = 0;                      // bytes of tensor data read from the files
  uint64_t staging_host_bytes = 0;              // host memory of the staging ring (0: none)
  std::vector<std::string> ignored_unexpected;  // file keys skipped by ignore_unexpected_suffixes
};

// The safetensors files of a diffusers/transformers component folder (e.g. `text_encoder/`):
// `model.safetensors` or `diffusion_pytorch_model.safetensors`, the `.<variant>.safetensors`
// file when `variant` is set ("fp16"), or every shard named by a `*.safetensors.index.json`.
// Errors say which file names were looked for. Weight files are looked up in `source` (their
// bytes may still be on their way; nullptr: on disk), shard indexes on disk.
core::Result<std::vector<std::filesystem::path>> FindComponentWeights(
    const std::filesystem::path& component_dir, const std::string& variant = "",
    weights::WeightSource* source = nullptr);

// Loads every parameter and buffer of `module` from `files`. On any missing key, unexpected key
// or shape mismatch, returns InvalidArgument listing (up to 20 of) each kind and leaves the
// module untouched. The headers come first (options.source->ReadHeader); then each file's bytes
// are streamed (options.source->Stream) straight into the parameters, converted to the target
// dtype piece by piece as they arrive (no copy of the file is held). A failed stream leaves the
// module partly written: discard it.
core::Result<ModuleLoadReport> LoadModuleWeights(torch::nn::Module& module,
                                                 const std::vector<std::filesystem::path>& files,
                                                 const ModuleLoadOptions& options = {});

// Same as LoadModuleWeights, from tensors already in memory (name -> tensor, any float dtype).
core::Result<ModuleLoadReport> LoadModuleState(torch::nn::Module& module,
                                               const std::map<std::string, torch::Tensor>& tensors,
                                               const ModuleLoadOptions& options = {});

}  // namespace sdxl::sdxl
