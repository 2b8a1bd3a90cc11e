#pragma once
// SDXL UNet2DConditionModel (diffusers) in LibTorch, built from unet/config.json.
//
// Supports the SDXL family: DownBlock2D / CrossAttnDownBlock2D / CrossAttnUpBlock2D / UpBlock2D,
// UNetMidBlock2DCrossAttn, positional timestep embedding, `text_time` added conditioning
// (pooled text embedding + micro-conditioning time ids), linear or conv transformer projections.
// Submodules carry diffusers' state-dict names (`down_blocks.1.attentions.0.transformer_blocks.0.
// attn2.to_k.weight`, ...), so LoadModuleWeights loads a checkpoint by name with shape checks.
// LoadUNet prepares the model for inference (nn_blocks.h: fused attention projections, and
// channels-last convolutions on CPU); forward accepts and returns NCHW tensors either way.
// Not thread-safe: one forward at a time per instance.

#include <filesystem>
#include <vector>

#include "core/status.h"
#include "sdxl/model_config.h"
#include "sdxl/model_load_options.h"
#include "sdxl/module_loader.h"
#include "sdxl/nn_blocks.h"

namespace sdxl::sdxl {

// Cross-attention keys/values of every transformer block for one encoder_hidden_states, in the
// UNet's block order (UNet2DConditionImpl::ProjectContext). The text embeddings are the same on
// every denoising step, so a pipeline computes this once per generation and passes it each step.
struct UNetContext {
  std::vector<std::vector<torch::Tensor>> per_transformer;  // [transformer][block]: (B, S, 2*inner)
};

struct UNetInputs {
  torch::Tensor sample;                 // (B, in_channels, h, w) latents (model dtype)
  torch::Tensor timestep;               // 0-dim or (B) float32 timesteps
  torch::Tensor encoder_hidden_states;  // (B, S, cross_attention_dim)
  torch::Tensor text_embeds;            // (B, projection_dim): pooled text embedding (text_time)
  torch::Tensor time_ids;               // (B, 6): orig h, w, crop top, left, target h, w
  // Optional ProjectContext(encoder_hidden_states) (not owned; must outlive the call).
  const UNetContext* context = nullptr;
};

class UNet2DConditionImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionImpl(const UNetConfig& config);
  // Returns the noise (or v / x0) prediction: (B, out_channels, h, w) in the sample's dtype.
  torch::Tensor forward(const UNetInputs& in);
  // encoder_hidden_states (B, S, Cc) -> the keys/values every cross-attention derives from it.
  UNetContext ProjectContext(const torch::Tensor& encoder_hidden_states);
  // Once, after loading: fuse attention projections; with `channels_last`, run the convolutions
  // in channels-last memory format (faster on CPU).
  void PrepareForInference(bool channels_last);
  const UNetConfig& config() const { return config_; }

 private:
  struct Level {  // one down or up block
    std::vector<ResnetBlock2D> resnets;
    std::vector<Transformer2D> attentions;  // empty for DownBlock2D / UpBlock2D
    Downsample2D downsampler{nullptr};
    Upsample2D upsampler{nullptr};
  };
  UNetConfig config_;
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  TimestepEmbedding time_embedding_{nullptr}, add_embedding_{nullptr};
  std::vector<Level> down_, up_;
  ResnetBlock2D mid_resnet0_{nullptr}, mid_resnet1_{nullptr};
  Transformer2D mid_attention_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  std::vector<Transformer2D> transformers_;  // every Transformer2D in forward order
  bool channels_last_ = false;
};
TORCH_MODULE(UNet2DCondition);

// Reads <dir>/config.json, builds the UNet and loads its safetensors weights (eval, no grad).
// `report` (optional) receives what the weight loader did (module_loader.h).
[[nodiscard]] core::Result<UNet2DCondition> LoadUNet(const std::filesystem::path& dir,
                                                     const ModelLoadOptions& options = {},
                                                     ModuleLoadReport* report = nullptr);

}  // namespace sdxl::sdxl
