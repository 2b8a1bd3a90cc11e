#pragma once
// Recipes: how a source repo becomes a served pipeline.
//  - plain: any SDXL diffusers repo, files chosen by SelectSdxlFiles.
//  - SDXL-Lightning (`ByteDance/SDXL-Lightning`): the seed's recipe. Everything but the UNet
//    weights comes from stabilityai/stable-diffusion-xl-base-1.0 (fp16 variant); the UNet weights
//    are `sdxl_lightning_<N>step_unet.safetensors` (N = 2, 4 or 8); the scheduler becomes
//    EulerDiscreteScheduler with timestep_spacing "trailing" (Lightning needs it; the seed forgot
//    it). Recommended: N steps, guidance 0.
// Pure functions: thread-safe, no I/O.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"
#include "prepare/selection.h"

namespace sdxl::prepare {

inline constexpr std::string_view kLightningRepo = "ByteDance/SDXL-Lightning";
inline constexpr std::string_view kSdxlBaseRepo = "stabilityai/stable-diffusion-xl-base-1.0";

// True for ByteDance/SDXL-Lightning (case-insensitive, as the Hub treats repo ids).
bool IsLightningRepo(std::string_view repo_id);

// "sdxl_lightning_4step_unet.safetensors"; InvalidArgument unless steps is 2, 4 or 8.
core::Result<std::string> LightningUnetFile(int steps);

// Replaces the UNet weights of `base` (the base repo's selection) by the Lightning UNet file of
// `lightning` and marks the scheduler config for patching. NotFound when the Lightning listing
// lacks the file.
core::Result<Selection> ApplyLightningRecipe(Selection base, const Listing& lightning, int steps);

// The base scheduler config with _class_name EulerDiscreteScheduler and timestep_spacing
// "trailing" (other keys kept). DataLoss if the input is not a JSON object.
core::Result<std::string> PatchSchedulerForLightning(std::string_view scheduler_config_json);

}  // namespace sdxl::prepare
