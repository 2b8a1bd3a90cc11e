#pragma once
// AutoencoderKL decoder (diffusers) in LibTorch: post_quant_conv + Decoder, from vae/config.json.
//
// Keys follow diffusers (`post_quant_conv.*`, `decoder.mid_block.attentions.0.to_q.*`, ...);
// checkpoints with the legacy attention names (`query`/`key`/`value`/`proj_attn`) load too.
// Encoder weights in the file are ignored (txt2img only decodes). `Decode` applies the config's
// latent scaling (scaling_factor, shift_factor, latents_mean/std) like the SDXL pipeline, and
// runs in float32 when the config says force_upcast (the stock SDXL VAE overflows in fp16).
// LoadVae prepares the decoder for inference (fused attention projections; channels-last
// convolutions on CPU, see nn_blocks.h); inputs and outputs are NCHW either way.
// Not thread-safe: one forward at a time per instance.

#include <filesystem>
#include <vector>

#include "core/status.h"
#include "sdxl/model_config.h"
#include "sdxl/model_load_options.h"
#include "sdxl/nn_blocks.h"

namespace sdxl::sdxl {

class VaeDecoderImpl : public torch::nn::Module {
 public:
  explicit VaeDecoderImpl(const VaeConfig& config);
  // z: (B, latent_channels, h, w) already unscaled -> (B, out_channels, h*f, w*f) in ~[-1, 1].
  torch::Tensor forward(const torch::Tensor& z);
  // Once, after loading (see UNet2DConditionImpl::PrepareForInference).
  void PrepareForInference(bool channels_last);
  const VaeConfig& config() const { return config_; }

 private:
  VaeConfig config_;
  torch::nn::Conv2d post_quant_conv_{nullptr}, conv_in_{nullptr}, conv_out_{nullptr};
  ResnetBlock2D mid_resnet0_{nullptr}, mid_resnet1_{nullptr};
  Attention mid_attention_{nullptr};
  std::vector<std::vector<ResnetBlock2D>> up_resnets_;
  std::vector<Upsample2D> upsamplers_;  // null entry for the last level
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  bool channels_last_ = false;
};
TORCH_MODULE(VaeDecoder);

// The decoder plus its working dtype (float32 when force_upcast and a half dtype was asked).
struct Vae {
  VaeDecoder decoder{nullptr};
  torch::Dtype dtype = torch::kFloat32;
  // latents: (B, C, h, w) as the scheduler leaves them -> images (B, 3, H, W) in `dtype`, ~[-1, 1].
  torch::Tensor Decode(const torch::Tensor& latents);
};

// Reads <dir>/config.json, builds the decoder and loads its weights.
[[nodiscard]] core::Result<Vae> LoadVae(const std::filesystem::path& dir,
                                        const ModelLoadOptions& options = {});

// Maps legacy mid-block attention keys (query/key/value/proj_attn) to diffusers' names and drops
// encoder-only keys; other keys pass through.
std::string CanonicalVaeKey(const std::string& key);

}  // namespace sdxl::sdxl
