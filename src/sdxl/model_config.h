#pragma once
// Hyper-parameters of an SDXL diffusers pipeline, read from its config JSON files.
//
// Each struct mirrors one component's config.json (unet/config.json, vae/config.json,
// scheduler/scheduler_config.json, model_index.json) with diffusers' defaults for omitted keys and
// the derived values (per-level heads, transformer depths) the model code needs. Parsing is pure
// (JSON text in, struct out) so tiny test configs, SDXL base, Lightning and finetunes all load.
// Plain values: copyable and safe to share between threads.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::sdxl {

struct UNetConfig {
  int in_channels = 4;
  int out_channels = 4;
  int sample_size = 128;
  std::vector<int> block_out_channels;                     // one per level
  std::vector<std::string> down_block_types;               // DownBlock2D | CrossAttnDownBlock2D
  std::vector<std::string> up_block_types;                 // UpBlock2D | CrossAttnUpBlock2D
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";  // or "" (no mid block)
  std::vector<int> layers_per_block;                       // resnets per down block (up: +1)
  std::vector<int> transformer_layers_per_block;           // depth per down level
  std::vector<int> num_attention_heads;  // per down level (diffusers' naming quirk applied)
  std::vector<int> cross_attention_dim;  // per down level
  int norm_num_groups = 32;
  double norm_eps = 1e-5;
  int downsample_padding = 1;
  bool use_linear_projection = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::string addition_embed_type;  // "text_time" for SDXL, "" for none
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;
  std::optional<int> time_cond_proj_dim;
  int conv_in_kernel = 3;
  int conv_out_kernel = 3;
  double mid_block_scale_factor = 1.0;

  int time_embed_dim() const { return block_out_channels.at(0) * 4; }
  bool is_cross_attn_down(size_t i) const {
    return down_block_types.at(i) == "CrossAttnDownBlock2D";
  }
  bool is_cross_attn_up(size_t i) const { return up_block_types.at(i) == "CrossAttnUpBlock2D"; }
};

struct VaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  int latent_channels = 4;
  std::vector<int> block_out_channels;
  int layers_per_block = 1;
  int norm_num_groups = 32;
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  std::vector<double> latents_mean;  // empty unless the config has them
  std::vector<double> latents_std;
  bool force_upcast = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  int sample_size = 32;

  // 2^(levels-1): latent-to-pixel downscale (8 for SDXL).
  int scale_factor() const { return 1 << (static_cast<int>(block_out_channels.size()) - 1); }
};

enum class PredictionType { kEpsilon, kVPrediction, kSample };
enum class TimestepSpacing { kLeading, kTrailing, kLinspace };

struct SchedulerConfig {
  std::string class_name = "EulerDiscreteScheduler";  // or EulerAncestralDiscreteScheduler
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";  // linear | scaled_linear | squaredcos_cap_v2
  std::vector<double> trained_betas;     // overrides beta_schedule when non-empty
  PredictionType prediction_type = PredictionType::kEpsilon;
  TimestepSpacing timestep_spacing = TimestepSpacing::kLinspace;
  int steps_offset = 0;
  bool rescale_betas_zero_snr = false;
  std::string interpolation_type = "linear";
  std::string final_sigmas_type = "zero";  // zero | sigma_min
  bool use_karras_sigmas = false;
};

// model_index.json plus optional recipe hints (what `generate` uses as defaults).
struct PipelineConfig {
  std::string class_name;
  bool force_zeros_for_empty_prompt = true;
  // model_index.json "scheduler": ["diffusers", "<class>"]: the class diffusers instantiates (it
  // wins over scheduler_config.json's _class_name). Empty when absent.
  std::string scheduler_class;
  std::optional<int> default_steps;        // from a manifest recipe, when recorded
  std::optional<double> default_guidance;  // idem
};

// Parsers: JSON text in; errors say which key is wrong. `source` names the file in messages.
[[nodiscard]] core::Result<UNetConfig> ParseUNetConfig(std::string_view json,
                                                       std::string_view source);
[[nodiscard]] core::Result<VaeConfig> ParseVaeConfig(std::string_view json,
                                                     std::string_view source);
[[nodiscard]] core::Result<SchedulerConfig> ParseSchedulerConfig(std::string_view json,
                                                                 std::string_view source);
[[nodiscard]] core::Result<PipelineConfig> ParsePipelineConfig(std::string_view json,
                                                               std::string_view source);

// File readers: `dir` is the component folder (e.g. <model>/unet).
[[nodiscard]] core::Result<UNetConfig> LoadUNetConfig(const std::filesystem::path& dir);
[[nodiscard]] core::Result<VaeConfig> LoadVaeConfig(const std::filesystem::path& dir);
[[nodiscard]] core::Result<SchedulerConfig> LoadSchedulerConfig(const std::filesystem::path& dir);
// Reads <model>/model_index.json and, when present, recipe defaults from the model manifest
// (<model>/sdxl-tigris-manifest.json, "recipe": {"steps": N, "guidance": G}).
[[nodiscard]] core::Result<PipelineConfig> LoadPipelineConfig(
    const std::filesystem::path& model_dir);

// Reads a whole text file (bounded at 64 MiB).
[[nodiscard]] core::Result<std::string> ReadTextFile(const std::filesystem::path& path);

}  // namespace sdxl::sdxl
