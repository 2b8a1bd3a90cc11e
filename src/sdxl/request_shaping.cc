#include "sdxl/request_shaping.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <random>
#include <string>

namespace sdxl::sdxl {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

core::Result<ImageSize> SizeForAspectRatio(std::string_view ratio, const PipelineGeometry& g) {
  const int m = std::max(1, g.size_multiple);
  const int long_side = std::max({g.default_width, g.default_height, m});
  // The template's 32 at a long side of 1024, in proportion for other sizes (tiny test models),
  // as a multiple of size_multiple and never below it.
  const int step = std::max(m, long_side / 32 / m * m);
  return SizeForAspectRatio(ratio, long_side, step);
}

uint64_t DrawSeed() { return std::random_device{}() & 0xFFFFu; }

GenerateRequest ShapeRequest(const PredictionInput& in, const PipelineGeometry& g,
                             const InputDefaults& d) {
  GenerateRequest r;
  r.prompt = in.prompt;
  r.negative_prompt = in.negative_prompt;  // compel encodes "" like any prompt
  auto size = SizeForAspectRatio(in.aspect_ratio, g);
  assert(size.ok() && "ShapeRequest needs a validated PredictionInput");
  if (size.ok()) {
    r.width = size->width;
    r.height = size->height;
  }  // else 0x0: the pipeline's default size
  r.num_outputs = in.num_outputs;
  r.steps = in.num_inference_steps.value_or(d.num_inference_steps);
  r.guidance = in.guidance_scale;
  // torch's manual_seed takes a negative seed as its 64-bit two's complement.
  r.seed = in.seed ? static_cast<uint64_t>(*in.seed) : DrawSeed();
  r.prompt_weighting = true;
  return r;
}

core::Result<DeviceKind> ParseDevice(std::string_view name) {
  const std::string n = Lower(name);
  if (n == "auto") return DeviceKind::kAuto;
  if (n == "cpu") return DeviceKind::kCpu;
  if (n == "cuda") return DeviceKind::kCuda;
  return core::InvalidArgument("unknown device \"" + std::string(name) +
                               "\"; use auto, cpu or cuda");
}

core::Result<ComputeDtype> ParseDtype(std::string_view name) {
  const std::string n = Lower(name);
  if (n == "auto") return ComputeDtype::kAuto;
  if (n == "fp32" || n == "float32") return ComputeDtype::kFloat32;
  if (n == "fp16" || n == "float16") return ComputeDtype::kFloat16;
  if (n == "bf16" || n == "bfloat16") return ComputeDtype::kBFloat16;
  return core::InvalidArgument("unknown dtype \"" + std::string(name) +
                               "\"; use auto, fp32, fp16 or bf16");
}

}  // namespace sdxl::sdxl
