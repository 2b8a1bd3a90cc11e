#pragma once
// Request shaping: from user-facing choices (a validated Cog PredictionInput, or the CLI's flags)
// to the engine's GenerateRequest (sdxl/pipeline.h). Shared by `generate` and `serve`, so that
// the same input gives the same image in both.
//
// Pure functions except DrawSeed (std::random_device). All thread-safe; results are values.
// Torch-free.

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "sdxl/aspect_ratio.h"
#include "sdxl/pipeline.h"
#include "sdxl/prediction_input.h"

namespace sdxl::sdxl {

// What the loaded pipeline says about image sizes (EnginePipeline::default_width(), ...).
struct PipelineGeometry {
  int default_width = 1024;
  int default_height = 1024;
  int size_multiple = 8;  // the VAE scale factor; width and height must be multiples of it
};

// The image size for a named aspect ratio (sdxl/aspect_ratio.h): the ratio's base size scaled so
// the long side is max(default_width, default_height), each side rounded down to a multiple of
// `step` (at least `step`), where step is the template's 32 at a long side of 1024 and in
// proportion otherwise (long side / 32), rounded down to a multiple of size_multiple and never
// below it. SDXL {1024, 1024, 8}: 16:9 -> 1024x576, as the template; a tiny {64, 64, 8} model:
// 16:9 -> 64x32, 3:2 -> 64x40. InvalidArgument (listing the choices) for an unknown ratio.
[[nodiscard]] core::Result<ImageSize> SizeForAspectRatio(std::string_view ratio,
                                                         const PipelineGeometry& g);

// A random seed in 0..65535 (16 bits of std::random_device, as the seed template draws it).
uint64_t DrawSeed();

// The GenerateRequest for a validated input (ParsePredictionInput(...).ok()): size from the
// aspect ratio; steps from the input, else d.num_inference_steps; guidance_scale as given; the
// seed from the input (a negative seed is taken modulo 2^64, as torch's manual_seed does), else
// DrawSeed(); compel prompt weighting on (the seed template encodes prompts with compel). The
// seed actually used is in the returned request. No on_step callback.
GenerateRequest ShapeRequest(const PredictionInput& in, const PipelineGeometry& g,
                             const InputDefaults& d);

// "auto" | "cpu" | "cuda" (case-insensitive); InvalidArgument listing them otherwise.
[[nodiscard]] core::Result<DeviceKind> ParseDevice(std::string_view name);
// "auto" | "fp32" | "fp16" | "bf16", or the long names "float32" | "float16" | "bfloat16" that
// EnginePipeline::dtype_name() prints (case-insensitive); InvalidArgument otherwise.
[[nodiscard]] core::Result<ComputeDtype> ParseDtype(std::string_view name);

}  // namespace sdxl::sdxl
