#pragma once
// SdxlPipeline: text-to-image with SDXL, numerically following diffusers'
// StableDiffusionXLPipeline (Euler / Euler-ancestral schedulers, optional classifier-free
// guidance, micro-conditioning, VAE decode, uint8 post-processing).
//
// Load() reads a local diffusers folder (model_index.json, scheduler/, unet/, vae/, tokenizers and
// text encoders). Generate() draws the initial latents exactly like diffusers: a torch generator
// on the compute device seeded with the request's seed (CPU: mt19937 like
// torch.Generator("cpu").manual_seed; CUDA: Philox like torch.Generator("cuda")), so the same
// seed gives the same latents and hence the same image.
// Not thread-safe: one Generate at a time (the server's single GPU worker owns it).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sdxl/model_config.h"
#include "weights/weight_source.h"

namespace sdxl::sdxl {

enum class DeviceKind { kAuto, kCpu, kCuda };
enum class ComputeDtype { kAuto, kFloat32, kFloat16, kBFloat16 };

struct PipelineLoadOptions {
  DeviceKind device = DeviceKind::kAuto;     // auto: CUDA when available
  ComputeDtype dtype = ComputeDtype::kAuto;  // auto: fp32 on CPU, fp16 on CUDA
  std::string variant;                       // "fp16": load *.fp16.safetensors files
  // Where the model's files come from (not owned; weights/weight_source.h). nullptr: the folder
  // on disk. With a streaming source (the loader's pull) the components load at the same time,
  // each as soon as its small files are in, and the weights stream into the parameters while
  // they download. The source must outlive the Load call only.
  weights::WeightSource* weights = nullptr;
};

struct GenerateRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;
  int width = 0;  // 0: the UNet's sample_size * VAE scale (1024 for SDXL)
  int height = 0;
  int num_outputs = 1;
  std::optional<int> steps;        // default: recipe, else 4 for trailing schedules, else 50
  std::optional<double> guidance;  // default: recipe, else 0 for trailing schedules, else 5
  uint64_t seed = 0;
  bool prompt_weighting = false;  // compel syntax and long prompts (text engineer's kCompel)
  // Called after each denoising step (1-based); return false to cancel.
  std::function<bool(int step, int total)> on_step;
};

struct GeneratedImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // row-major RGB, 3 bytes per pixel
};

struct GenerateTimings {
  double encode_s = 0, denoise_s = 0, decode_s = 0, total_s = 0;
  std::vector<double> step_s;  // one per step
};

struct GenerateResult {
  std::vector<GeneratedImage> images;
  int steps = 0;
  double guidance = 0;
  GenerateTimings timings;
};

class SdxlPipeline {
 public:
  [[nodiscard]] static core::Result<SdxlPipeline> Load(const std::filesystem::path& model_dir,
                                                       const PipelineLoadOptions& options = {});
  SdxlPipeline(SdxlPipeline&&) noexcept;
  SdxlPipeline& operator=(SdxlPipeline&&) noexcept;
  ~SdxlPipeline();

  [[nodiscard]] core::Result<GenerateResult> Generate(const GenerateRequest& request);

  // Defaults Generate uses when the request leaves them unset.
  int default_steps() const;
  double default_guidance() const;
  int default_width() const;
  int default_height() const;
  // Width/height must be multiples of this (the VAE scale factor).
  int size_multiple() const;
  std::string device_name() const;  // "cpu" | "cuda:0"
  std::string dtype_name() const;   // "float32" | "float16" | "bfloat16"

 private:
  struct Impl;
  explicit SdxlPipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sdxl::sdxl
