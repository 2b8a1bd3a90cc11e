#include "sdxl/model_config.h"

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "weights/manifest.h"

namespace sdxl::sdxl {
namespace {

using core::InvalidArgument;
using core::Result;
using core::Status;
using nlohmann::json;

// Error carrying the offending file and key.
struct ConfigError {
  std::string message;
};

std::string Where(std::string_view source, std::string_view key) {
  return std::string(source) + ": key \"" + std::string(key) + "\"";
}

template <typename T>
T Get(const json& j, const char* key, T fallback, std::string_view source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw ConfigError{Where(source, key) + " has the wrong type (" + it->dump() + ")"};
  }
}

// An int or a list of ints; a scalar is broadcast to `n` entries.
std::vector<int> IntOrList(const json& j, const char* key, size_t n, std::optional<int> fallback,
                           std::string_view source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!fallback) throw ConfigError{Where(source, key) + " is missing"};
    return std::vector<int>(n, *fallback);
  }
  if (it->is_number_integer()) return std::vector<int>(n, it->get<int>());
  if (!it->is_array()) throw ConfigError{Where(source, key) + " must be an int or a list of ints"};
  std::vector<int> out;
  for (const auto& v : *it) {
    if (!v.is_number_integer()) {
      throw ConfigError{Where(source, key) + " must contain only integers"};
    }
    out.push_back(v.get<int>());
  }
  if (out.size() != n) {
    throw ConfigError{Where(source, key) + " has " + std::to_string(out.size()) +
                      " entries; expected " + std::to_string(n) + " (one per block)"};
  }
  return out;
}

json ParseJson(std::string_view text, std::string_view source) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) throw ConfigError{std::string(source) + " is not a JSON object"};
    return j;
  } catch (const json::parse_error& e) {
    throw ConfigError{std::string(source) + " is not valid JSON (" + e.what() + ")"};
  }
}

template <typename Fn>
auto Guard(Fn&& fn) -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (const ConfigError& e) {
    return InvalidArgument(e.message);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("bad model config: ") + e.what());
  }
}

}  // namespace

Result<UNetConfig> ParseUNetConfig(std::string_view text, std::string_view source) {
  return Guard([&] {
    json j = ParseJson(text, source);
    UNetConfig c;
    c.in_channels = Get(j, "in_channels", 4, source);
    c.out_channels = Get(j, "out_channels", 4, source);
    c.sample_size = Get(j, "sample_size", 64, source);
    c.block_out_channels =
        Get(j, "block_out_channels", std::vector<int>{320, 640, 1280, 1280}, source);
    const size_t n = c.block_out_channels.size();
    c.down_block_types =
        Get(j, "down_block_types",
            std::vector<std::string>{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                     "CrossAttnDownBlock2D", "DownBlock2D"},
            source);
    c.up_block_types = Get(j, "up_block_types",
                           std::vector<std::string>{"UpBlock2D", "CrossAttnUpBlock2D",
                                                    "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"},
                           source);
    if (c.down_block_types.size() != n || c.up_block_types.size() != n) {
      throw ConfigError{std::string(source) +
                        ": down_block_types, up_block_types and block_out_channels must have the "
                        "same length"};
    }
    for (const auto& t : c.down_block_types) {
      if (t != "DownBlock2D" && t != "CrossAttnDownBlock2D") {
        throw ConfigError{std::string(source) + ": unsupported down block type \"" + t +
                          "\" (supported: DownBlock2D, CrossAttnDownBlock2D)"};
      }
    }
    for (const auto& t : c.up_block_types) {
      if (t != "UpBlock2D" && t != "CrossAttnUpBlock2D") {
        throw ConfigError{std::string(source) + ": unsupported up block type \"" + t +
                          "\" (supported: UpBlock2D, CrossAttnUpBlock2D)"};
      }
    }
    c.mid_block_type = Get(j, "mid_block_type", std::string("UNetMidBlock2DCrossAttn"), source);
    if (!c.mid_block_type.empty() && c.mid_block_type != "UNetMidBlock2DCrossAttn") {
      throw ConfigError{std::string(source) + ": unsupported mid_block_type \"" + c.mid_block_type +
                        "\" (supported: UNetMidBlock2DCrossAttn)"};
    }
    c.layers_per_block = IntOrList(j, "layers_per_block", n, 2, source);
    c.transformer_layers_per_block = IntOrList(j, "transformer_layers_per_block", n, 1, source);
    // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (naming quirk).
    if (j.contains("num_attention_heads") && !j["num_attention_heads"].is_null()) {
      c.num_attention_heads = IntOrList(j, "num_attention_heads", n, std::nullopt, source);
    } else {
      c.num_attention_heads = IntOrList(j, "attention_head_dim", n, 8, source);
    }
    c.cross_attention_dim = IntOrList(j, "cross_attention_dim", n, 1280, source);
    c.norm_num_groups = Get(j, "norm_num_groups", 32, source);
    c.norm_eps = Get(j, "norm_eps", 1e-5, source);
    c.downsample_padding = Get(j, "downsample_padding", 1, source);
    c.use_linear_projection = Get(j, "use_linear_projection", false, source);
    c.flip_sin_to_cos = Get(j, "flip_sin_to_cos", true, source);
    c.freq_shift = Get(j, "freq_shift", 0.0, source);
    c.addition_embed_type = Get(j, "addition_embed_type", std::string(), source);
    if (!c.addition_embed_type.empty() && c.addition_embed_type != "text_time") {
      throw ConfigError{std::string(source) + ": unsupported addition_embed_type \"" +
                        c.addition_embed_type + "\" (supported: text_time)"};
    }
    c.addition_time_embed_dim = Get(j, "addition_time_embed_dim", 0, source);
    c.projection_class_embeddings_input_dim =
        Get(j, "projection_class_embeddings_input_dim", 0, source);
    if (j.contains("time_cond_proj_dim") && !j["time_cond_proj_dim"].is_null()) {
      c.time_cond_proj_dim = Get(j, "time_cond_proj_dim", 0, source);
    }
    c.conv_in_kernel = Get(j, "conv_in_kernel", 3, source);
    c.conv_out_kernel = Get(j, "conv_out_kernel", 3, source);
    c.mid_block_scale_factor = Get(j, "mid_block_scale_factor", 1.0, source);
    for (const char* unsupported : {"class_embed_type", "encoder_hid_dim_type",
                                    "time_embedding_act_fn", "timestep_post_act"}) {
      if (j.contains(unsupported) && !j[unsupported].is_null()) {
        throw ConfigError{Where(source, unsupported) +
                          " is set; this engine supports SDXL UNets "
                          "without it"};
      }
    }
    if (Get(j, "resnet_time_scale_shift", std::string("default"), source) != "default") {
      throw ConfigError{Where(source, "resnet_time_scale_shift") + " must be \"default\""};
    }
    if (Get(j, "time_embedding_type", std::string("positional"), source) != "positional") {
      throw ConfigError{Where(source, "time_embedding_type") + " must be \"positional\""};
    }
    if (Get(j, "only_cross_attention", false, source) ||
        Get(j, "dual_cross_attention", false, source) ||
        Get(j, "upcast_attention", false, source) || Get(j, "center_input_sample", false, source)) {
      throw ConfigError{std::string(source) +
                        ": only_cross_attention/dual_cross_attention/upcast_attention/"
                        "center_input_sample are not supported"};
    }
    for (size_t i = 0; i < n; ++i) {
      if (c.block_out_channels[i] % c.num_attention_heads[i] != 0) {
        throw ConfigError{std::string(source) + ": block_out_channels[" + std::to_string(i) +
                          "] is not divisible by its number of attention heads"};
      }
    }
    return c;
  });
}

Result<VaeConfig> ParseVaeConfig(std::string_view text, std::string_view source) {
  return Guard([&] {
    json j = ParseJson(text, source);
    VaeConfig c;
    c.in_channels = Get(j, "in_channels", 3, source);
    c.out_channels = Get(j, "out_channels", 3, source);
    c.latent_channels = Get(j, "latent_channels", 4, source);
    c.block_out_channels = Get(j, "block_out_channels", std::vector<int>{64}, source);
    c.layers_per_block = Get(j, "layers_per_block", 1, source);
    c.norm_num_groups = Get(j, "norm_num_groups", 32, source);
    c.scaling_factor = Get(j, "scaling_factor", 0.18215, source);
    if (j.contains("shift_factor") && !j["shift_factor"].is_null()) {
      c.shift_factor = Get(j, "shift_factor", 0.0, source);
    }
    c.latents_mean = Get(j, "latents_mean", std::vector<double>{}, source);
    c.latents_std = Get(j, "latents_std", std::vector<double>{}, source);
    c.force_upcast = Get(j, "force_upcast", true, source);
    c.use_post_quant_conv = Get(j, "use_post_quant_conv", true, source);
    c.mid_block_add_attention = Get(j, "mid_block_add_attention", true, source);
    c.sample_size = Get(j, "sample_size", 32, source);
    auto up =
        Get(j, "up_block_types",
            std::vector<std::string>(c.block_out_channels.size(), "UpDecoderBlock2D"), source);
    if (up.size() != c.block_out_channels.size()) {
      throw ConfigError{std::string(source) +
                        ": up_block_types and block_out_channels must have the same length"};
    }
    for (const auto& t : up) {
      if (t != "UpDecoderBlock2D") {
        throw ConfigError{std::string(source) + ": unsupported VAE up block \"" + t +
                          "\" (supported: UpDecoderBlock2D)"};
      }
    }
    if (c.block_out_channels.empty()) {
      throw ConfigError{Where(source, "block_out_channels") + " is empty"};
    }
    return c;
  });
}

Result<SchedulerConfig> ParseSchedulerConfig(std::string_view text, std::string_view source) {
  return Guard([&] {
    json j = ParseJson(text, source);
    SchedulerConfig c;
    c.class_name = Get(j, "_class_name", std::string("EulerDiscreteScheduler"), source);
    c.num_train_timesteps = Get(j, "num_train_timesteps", 1000, source);
    c.beta_start = Get(j, "beta_start", 0.0001, source);
    c.beta_end = Get(j, "beta_end", 0.02, source);
    c.beta_schedule = Get(j, "beta_schedule", std::string("linear"), source);
    c.trained_betas = Get(j, "trained_betas", std::vector<double>{}, source);
    const auto pred = Get(j, "prediction_type", std::string("epsilon"), source);
    if (pred == "epsilon") {
      c.prediction_type = PredictionType::kEpsilon;
    } else if (pred == "v_prediction") {
      c.prediction_type = PredictionType::kVPrediction;
    } else if (pred == "sample") {
      c.prediction_type = PredictionType::kSample;
    } else {
      throw ConfigError{Where(source, "prediction_type") +
                        " must be epsilon, v_prediction or sample"};
    }
    const auto spacing = Get(j, "timestep_spacing", std::string("linspace"), source);
    if (spacing == "leading") {
      c.timestep_spacing = TimestepSpacing::kLeading;
    } else if (spacing == "trailing") {
      c.timestep_spacing = TimestepSpacing::kTrailing;
    } else if (spacing == "linspace") {
      c.timestep_spacing = TimestepSpacing::kLinspace;
    } else {
      throw ConfigError{Where(source, "timestep_spacing") +
                        " must be leading, trailing or linspace"};
    }
    c.steps_offset = Get(j, "steps_offset", 0, source);
    c.rescale_betas_zero_snr = Get(j, "rescale_betas_zero_snr", false, source);
    c.interpolation_type = Get(j, "interpolation_type", std::string("linear"), source);
    c.final_sigmas_type = Get(j, "final_sigmas_type", std::string("zero"), source);
    c.use_karras_sigmas = Get(j, "use_karras_sigmas", false, source);
    if (c.interpolation_type != "linear") {
      throw ConfigError{Where(source, "interpolation_type") + " must be \"linear\""};
    }
    if (c.final_sigmas_type != "zero" && c.final_sigmas_type != "sigma_min") {
      throw ConfigError{Where(source, "final_sigmas_type") + " must be zero or sigma_min"};
    }
    if (c.use_karras_sigmas || Get(j, "use_exponential_sigmas", false, source) ||
        Get(j, "use_beta_sigmas", false, source)) {
      throw ConfigError{std::string(source) +
                        ": karras/exponential/beta sigmas are not supported; remove them or use "
                        "the default schedule"};
    }
    if (Get(j, "timestep_type", std::string("discrete"), source) != "discrete") {
      throw ConfigError{Where(source, "timestep_type") + " must be \"discrete\""};
    }
    if (c.class_name != "EulerDiscreteScheduler" &&
        c.class_name != "EulerAncestralDiscreteScheduler") {
      throw ConfigError{std::string(source) + ": scheduler \"" + c.class_name +
                        "\" is not supported (use EulerDiscreteScheduler or "
                        "EulerAncestralDiscreteScheduler)"};
    }
    if (c.num_train_timesteps < 2) {
      throw ConfigError{Where(source, "num_train_timesteps") + " must be at least 2"};
    }
    return c;
  });
}

Result<PipelineConfig> ParsePipelineConfig(std::string_view text, std::string_view source) {
  return Guard([&] {
    json j = ParseJson(text, source);
    PipelineConfig c;
    c.class_name = Get(j, "_class_name", std::string(), source);
    c.force_zeros_for_empty_prompt = Get(j, "force_zeros_for_empty_prompt", true, source);
    if (auto it = j.find("scheduler");
        it != j.end() && it->is_array() && it->size() == 2 && (*it)[1].is_string()) {
      c.scheduler_class = (*it)[1].get<std::string>();
    }
    return c;
  });
}

Result<std::string> ReadTextFile(const std::filesystem::path& path) {
  auto text = core::ReadFile(path, 64u << 20);
  if (!text.ok() && text.status().code() == core::Code::kNotFound) {
    return core::NotFound(path.string() + " not found; is this a diffusers SDXL pipeline folder?");
  }
  return text;
}

Result<UNetConfig> LoadUNetConfig(const std::filesystem::path& dir) {
  SDXL_ASSIGN_OR_RETURN(auto text, ReadTextFile(dir / "config.json"));
  return ParseUNetConfig(text, (dir / "config.json").string());
}

Result<VaeConfig> LoadVaeConfig(const std::filesystem::path& dir) {
  SDXL_ASSIGN_OR_RETURN(auto text, ReadTextFile(dir / "config.json"));
  return ParseVaeConfig(text, (dir / "config.json").string());
}

Result<SchedulerConfig> LoadSchedulerConfig(const std::filesystem::path& dir) {
  SDXL_ASSIGN_OR_RETURN(auto text, ReadTextFile(dir / "scheduler_config.json"));
  return ParseSchedulerConfig(text, (dir / "scheduler_config.json").string());
}

Result<PipelineConfig> LoadPipelineConfig(const std::filesystem::path& model_dir) {
  SDXL_ASSIGN_OR_RETURN(auto text, ReadTextFile(model_dir / "model_index.json"));
  SDXL_ASSIGN_OR_RETURN(auto cfg,
                        ParsePipelineConfig(text, (model_dir / "model_index.json").string()));
  // Recipe defaults from the model manifest (weights/manifest.h), when the folder has one:
  // {"recipe": {"steps": 4, "guidance": 0, ...}}.
  const auto manifest = model_dir / std::string(weights::kManifestFileName);
  if (std::filesystem::exists(manifest)) {
    SDXL_ASSIGN_OR_RETURN(auto mtext, ReadTextFile(manifest));
    try {
      json m = json::parse(mtext);
      if (m.contains("recipe") && m["recipe"].is_object()) {
        const auto& r = m["recipe"];
        for (const char* key : {"steps", "num_inference_steps"}) {
          if (r.contains(key) && r[key].is_number_integer()) cfg.default_steps = r[key].get<int>();
        }
        for (const char* key : {"guidance", "guidance_scale"}) {
          if (r.contains(key) && r[key].is_number()) cfg.default_guidance = r[key].get<double>();
        }
      }
    } catch (const json::exception& e) {
      return InvalidArgument(manifest.string() + " is not valid JSON (" + e.what() + ")");
    }
  }
  return cfg;
}

}  // namespace sdxl::sdxl
