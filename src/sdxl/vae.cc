#include "sdxl/vae.h"

#include <map>

#include "sdxl/module_loader.h"
#include "weights/safetensors.h"

namespace sdxl::sdxl {

VaeDecoderImpl::VaeDecoderImpl(const VaeConfig& c) : config_(c) {
  const auto& boc = c.block_out_channels;
  const int n = static_cast<int>(boc.size());
  const int groups = c.norm_num_groups;
  constexpr double kEps = 1e-6;
  if (c.use_post_quant_conv) {
    post_quant_conv_ =
        register_module("post_quant_conv", MakeConv(c.latent_channels, c.latent_channels, 1, 1, 0));
  }
  auto dec = register_module("decoder", std::make_shared<torch::nn::Module>());
  conv_in_ = dec->register_module("conv_in", MakeConv(c.latent_channels, boc.back(), 3));

  auto mid = dec->register_module("mid_block", std::make_shared<torch::nn::Module>());
  auto mres = mid->register_module("resnets", torch::nn::ModuleList());
  mid_resnet0_ = ResnetBlock2D(boc.back(), boc.back(), 0, groups, kEps);
  mid_resnet1_ = ResnetBlock2D(boc.back(), boc.back(), 0, groups, kEps);
  mres->push_back(mid_resnet0_);
  mres->push_back(mid_resnet1_);
  if (c.mid_block_add_attention) {
    auto matt = mid->register_module("attentions", torch::nn::ModuleList());
    mid_attention_ = Attention(AttentionOptions{.query_dim = boc.back(),
                                                .cross_attention_dim = 0,
                                                .heads = 1,
                                                .dim_head = boc.back(),
                                                .bias = true,
                                                .norm_num_groups = groups,
                                                .norm_eps = kEps,
                                                .residual_connection = true});
    matt->push_back(mid_attention_);
  }

  auto ups = dec->register_module("up_blocks", torch::nn::ModuleList());
  std::vector<int> rboc(boc.rbegin(), boc.rend());
  int out_ch = rboc[0];
  for (int i = 0; i < n; ++i) {
    const int prev = out_ch;
    out_ch = rboc[i];
    auto block = std::make_shared<torch::nn::Module>();
    auto res = block->register_module("resnets", torch::nn::ModuleList());
    std::vector<ResnetBlock2D> level;
    for (int j = 0; j < c.layers_per_block + 1; ++j) {
      ResnetBlock2D r(j == 0 ? prev : out_ch, out_ch, 0, groups, kEps);
      res->push_back(r);
      level.push_back(r);
    }
    Upsample2D up{nullptr};
    if (i != n - 1) {
      auto us = block->register_module("upsamplers", torch::nn::ModuleList());
      up = Upsample2D(out_ch);
      us->push_back(up);
    }
    ups->push_back(block);
    up_resnets_.push_back(std::move(level));
    upsamplers_.push_back(up);
  }
  conv_norm_out_ = dec->register_module(
      "conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, boc[0]).eps(kEps)));
  conv_out_ = dec->register_module("conv_out", MakeConv(boc[0], c.out_channels, 3));
}

void VaeDecoderImpl::PrepareForInference(bool channels_last) {
  ::sdxl::sdxl::PrepareForInference(*this, channels_last);
  channels_last_ = channels_last;
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& z_nchw) {
  const auto z_in = channels_last_ ? z_nchw.contiguous(at::MemoryFormat::ChannelsLast) : z_nchw;
  auto z = post_quant_conv_ ? post_quant_conv_(z_in) : z_in;  // (B, C, h, w)
  auto x = conv_in_(z);                                       // (B, boc[-1], h, w)
  x = mid_resnet0_(x, torch::Tensor());
  if (mid_attention_) x = mid_attention_(x);
  x = mid_resnet1_(x, torch::Tensor());
  for (size_t i = 0; i < up_resnets_.size(); ++i) {
    for (auto& r : up_resnets_[i]) x = r(x, torch::Tensor());
    if (upsamplers_[i]) x = upsamplers_[i](x);  // x2 spatially
  }
  return conv_out_(SiluInPlace(conv_norm_out_(x))).contiguous();  // (B, out, H, W)
}

torch::Tensor Vae::Decode(const torch::Tensor& latents) {
  const auto& c = decoder->config();
  auto z = latents.to(dtype);
  if (!c.latents_mean.empty() && !c.latents_std.empty()) {
    const auto n = static_cast<int64_t>(c.latents_mean.size());
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    auto mean =
        torch::tensor(c.latents_mean, opts).view({1, n, 1, 1}).to(z.device(), z.scalar_type());
    auto stdv =
        torch::tensor(c.latents_std, opts).view({1, n, 1, 1}).to(z.device(), z.scalar_type());
    z = z * stdv / c.scaling_factor + mean;
  } else {
    z = z / c.scaling_factor;
  }
  if (c.shift_factor) z = z + *c.shift_factor;
  return decoder->forward(z);
}

std::string CanonicalVaeKey(const std::string& key) {
  static const std::map<std::string, std::string> kLegacy = {{".query.", ".to_q."},
                                                             {".key.", ".to_k."},
                                                             {".value.", ".to_v."},
                                                             {".proj_attn.", ".to_out.0."}};
  std::string k = key;
  if (k.rfind("decoder.mid_block.attentions.", 0) == 0) {
    for (const auto& [from, to] : kLegacy) {
      auto pos = k.find(from);
      if (pos != std::string::npos) k.replace(pos, from.size(), to);
    }
  }
  return k;
}

core::Result<Vae> LoadVae(const std::filesystem::path& dir, const ModelLoadOptions& options) {
  SDXL_ASSIGN_OR_RETURN(auto config, LoadVaeConfig(dir));
  SDXL_ASSIGN_OR_RETURN(auto files, FindComponentWeights(dir, options.variant, options.source));
  try {
    Vae vae;
    // diffusers upcasts to float32 only for float16 (bfloat16 has float32's range).
    vae.dtype =
        (options.dtype == torch::kFloat16 && config.force_upcast) ? torch::kFloat32 : options.dtype;
    {
      // Allocated on the target device and dtype, uninitialized: every parameter is loaded next.
      LoadAllocationScope scope(torch::TensorOptions().dtype(vae.dtype).device(options.device));
      vae.decoder = VaeDecoder(config);
    }
    vae.decoder->eval();
    // The decoder's tensors by name (legacy names renamed, the encoder skipped), streamed from
    // the file into the parameters with the shared shape checks.
    ModuleLoadOptions lo;
    lo.dtype = vae.dtype;
    lo.device = options.device;
    lo.source = options.source;
    lo.rename_key = CanonicalVaeKey;
    lo.skip_prefixes = {"encoder.", "quant_conv."};
    lo.accept_trailing_ones = true;  // legacy attention projections stored as 1x1 convs
    SDXL_ASSIGN_OR_RETURN(auto report, LoadModuleWeights(*vae.decoder, files, lo));
    (void)report;
    vae.decoder->PrepareForInference(options.channels_last_on_cpu && options.device.is_cpu());
    return vae;
  } catch (const std::exception& e) {
    return core::Internal("building the VAE from " + dir.string() + " failed: " + e.what());
  }
}

}  // namespace sdxl::sdxl
