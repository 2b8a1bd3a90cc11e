#include "sdxl/unet.h"

#include "sdxl/module_loader.h"

namespace sdxl::sdxl {

UNet2DConditionImpl::UNet2DConditionImpl(const UNetConfig& c) : config_(c) {
  const auto& boc = c.block_out_channels;
  const int n = static_cast<int>(boc.size());
  const int temb = c.time_embed_dim();
  conv_in_ = register_module("conv_in", MakeConv(c.in_channels, boc[0], c.conv_in_kernel));
  time_embedding_ = register_module("time_embedding", TimestepEmbedding(boc[0], temb));
  if (c.addition_embed_type == "text_time") {
    add_embedding_ = register_module(
        "add_embedding", TimestepEmbedding(c.projection_class_embeddings_input_dim, temb));
  }

  // Down blocks.
  auto down_list = register_module("down_blocks", torch::nn::ModuleList());
  int out_ch = boc[0];
  for (int i = 0; i < n; ++i) {
    const int in_ch = out_ch;
    out_ch = boc[i];
    const bool final_block = i == n - 1;
    auto block = std::make_shared<torch::nn::Module>();
    auto resnets = block->register_module("resnets", torch::nn::ModuleList());
    torch::nn::ModuleList attentions{nullptr};
    if (c.is_cross_attn_down(i))
      attentions = block->register_module("attentions", torch::nn::ModuleList());
    Level level;
    for (int j = 0; j < c.layers_per_block[i]; ++j) {
      ResnetBlock2D r(j == 0 ? in_ch : out_ch, out_ch, temb, c.norm_num_groups, c.norm_eps);
      resnets->push_back(r);
      level.resnets.push_back(r);
      if (attentions) {
        const int heads = c.num_attention_heads[i];
        Transformer2D t(heads, out_ch / heads, out_ch, c.transformer_layers_per_block[i],
                        c.cross_attention_dim[i], c.norm_num_groups, c.use_linear_projection);
        attentions->push_back(t);
        level.attentions.push_back(t);
        transformers_.push_back(t);
      }
    }
    if (!final_block) {
      auto ds = block->register_module("downsamplers", torch::nn::ModuleList());
      level.downsampler = Downsample2D(out_ch, c.downsample_padding);
      ds->push_back(level.downsampler);
    }
    down_list->push_back(block);
    down_.push_back(std::move(level));
  }

  // Mid block (UNetMidBlock2DCrossAttn, one transformer).
  if (!c.mid_block_type.empty()) {
    const int ch = boc.back();
    auto mid = register_module("mid_block", std::make_shared<torch::nn::Module>());
    auto resnets = mid->register_module("resnets", torch::nn::ModuleList());
    auto attentions = mid->register_module("attentions", torch::nn::ModuleList());
    mid_resnet0_ =
        ResnetBlock2D(ch, ch, temb, c.norm_num_groups, c.norm_eps, c.mid_block_scale_factor);
    mid_resnet1_ =
        ResnetBlock2D(ch, ch, temb, c.norm_num_groups, c.norm_eps, c.mid_block_scale_factor);
    const int heads = c.num_attention_heads.back();
    mid_attention_ =
        Transformer2D(heads, ch / heads, ch, c.transformer_layers_per_block.back(),
                      c.cross_attention_dim.back(), c.norm_num_groups, c.use_linear_projection);
    resnets->push_back(mid_resnet0_);
    resnets->push_back(mid_resnet1_);
    attentions->push_back(mid_attention_);
    transformers_.push_back(mid_attention_);
  }

  // Up blocks (reversed lists).
  auto up_list = register_module("up_blocks", torch::nn::ModuleList());
  std::vector<int> rboc(boc.rbegin(), boc.rend());
  std::vector<int> rheads(c.num_attention_heads.rbegin(), c.num_attention_heads.rend());
  std::vector<int> rlayers(c.layers_per_block.rbegin(), c.layers_per_block.rend());
  std::vector<int> rdepth(c.transformer_layers_per_block.rbegin(),
                          c.transformer_layers_per_block.rend());
  std::vector<int> rcross(c.cross_attention_dim.rbegin(), c.cross_attention_dim.rend());
  out_ch = rboc[0];
  for (int i = 0; i < n; ++i) {
    const bool final_block = i == n - 1;
    const int prev_out = out_ch;
    out_ch = rboc[i];
    const int in_ch = rboc[std::min(i + 1, n - 1)];
    const int num_layers = rlayers[i] + 1;
    auto block = std::make_shared<torch::nn::Module>();
    auto resnets = block->register_module("resnets", torch::nn::ModuleList());
    torch::nn::ModuleList attentions{nullptr};
    if (c.is_cross_attn_up(i))
      attentions = block->register_module("attentions", torch::nn::ModuleList());
    Level level;
    for (int j = 0; j < num_layers; ++j) {
      const int skip_ch = (j == num_layers - 1) ? in_ch : out_ch;
      const int res_in = j == 0 ? prev_out : out_ch;
      ResnetBlock2D r(res_in + skip_ch, out_ch, temb, c.norm_num_groups, c.norm_eps);
      resnets->push_back(r);
      level.resnets.push_back(r);
      if (attentions) {
        const int heads = rheads[i];
        Transformer2D t(heads, out_ch / heads, out_ch, rdepth[i], rcross[i], c.norm_num_groups,
                        c.use_linear_projection);
        attentions->push_back(t);
        level.attentions.push_back(t);
        transformers_.push_back(t);
      }
    }
    if (!final_block) {
      auto us = block->register_module("upsamplers", torch::nn::ModuleList());
      level.upsampler = Upsample2D(out_ch);
      us->push_back(level.upsampler);
    }
    up_list->push_back(block);
    up_.push_back(std::move(level));
  }

  conv_norm_out_ = register_module(
      "conv_norm_out",
      torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.norm_num_groups, boc[0]).eps(c.norm_eps)));
  conv_out_ = register_module("conv_out", MakeConv(boc[0], c.out_channels, c.conv_out_kernel));
}

void UNet2DConditionImpl::PrepareForInference(bool channels_last) {
  ::sdxl::sdxl::PrepareForInference(*this, channels_last);
  channels_last_ = channels_last;
}

UNetContext UNet2DConditionImpl::ProjectContext(const torch::Tensor& encoder_hidden_states) {
  UNetContext ctx;
  for (auto& t : transformers_)
    ctx.per_transformer.push_back(t->ProjectContext(encoder_hidden_states));
  return ctx;
}

torch::Tensor UNet2DConditionImpl::forward(const UNetInputs& in) {
  const auto& c = config_;
  const auto sample =
      channels_last_ ? in.sample.contiguous(at::MemoryFormat::ChannelsLast) : in.sample;
  const int64_t B = sample.size(0);
  // Upsample to the skip's size when h or w is not a multiple of 2^num_upsamplers.
  const int64_t factor = int64_t{1} << (c.block_out_channels.size() - 1);
  const bool forward_upsample_size = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;

  // Time embedding: sinusoids in float32, then the model dtype.
  auto t = in.timestep.to(sample.device());
  if (t.dim() == 0) t = t.unsqueeze(0);
  t = t.expand({B});
  auto t_emb = TimestepSinusoids(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift)
                   .to(sample.scalar_type());  // (B, boc0)
  auto emb = time_embedding_(t_emb);           // (B, temb)
  if (add_embedding_) {
    auto time_embeds = TimestepSinusoids(in.time_ids.flatten(), c.addition_time_embed_dim,
                                         c.flip_sin_to_cos, c.freq_shift);  // (B*6, D)
    time_embeds = time_embeds.reshape({in.text_embeds.size(0), -1});        // (B, 6D)
    auto add_embeds = torch::cat({in.text_embeds, time_embeds.to(in.text_embeds.scalar_type())}, -1)
                          .to(emb.scalar_type());  // (B, proj + 6D)
    emb = emb + add_embedding_(add_embeds);
  }
  const auto& ctx = in.encoder_hidden_states;
  if (in.context && in.context->per_transformer.size() != transformers_.size()) {
    throw std::invalid_argument("UNetInputs::context was not made by this UNet's ProjectContext");
  }
  size_t next_transformer = 0;  // transformers_ index: the blocks below run in the same order
  auto attend = [&](Transformer2D& t, const torch::Tensor& x) {
    const size_t i = next_transformer++;
    if (!in.context) return t(x, ctx);
    return t(x, ctx, in.context->per_transformer[i]);
  };

  auto x = conv_in_(sample);  // (B, boc0, h, w)
  std::vector<torch::Tensor> skips{x};
  for (auto& level : down_) {
    for (size_t j = 0; j < level.resnets.size(); ++j) {
      x = level.resnets[j](x, emb);
      if (!level.attentions.empty()) x = attend(level.attentions[j], x);
      skips.push_back(x);
    }
    if (level.downsampler) {
      x = level.downsampler(x);
      skips.push_back(x);
    }
  }
  if (mid_resnet0_) {
    x = mid_resnet0_(x, emb);
    x = attend(mid_attention_, x);
    x = mid_resnet1_(x, emb);
  }
  for (size_t i = 0; i < up_.size(); ++i) {
    auto& level = up_[i];
    for (size_t j = 0; j < level.resnets.size(); ++j) {
      auto skip = skips.back();
      skips.pop_back();
      x = torch::cat({x, skip}, 1);
      x = level.resnets[j](x, emb);
      if (!level.attentions.empty()) x = attend(level.attentions[j], x);
    }
    if (level.upsampler) {
      std::optional<std::array<int64_t, 2>> size;
      if (forward_upsample_size && !skips.empty()) {
        size = std::array<int64_t, 2>{skips.back().size(2), skips.back().size(3)};
      }
      x = level.upsampler(x, size);
    }
  }
  x = conv_out_(SiluInPlace(conv_norm_out_(x)));  // (B, out_channels, h, w)
  return x.contiguous();
}

core::Result<UNet2DCondition> LoadUNet(const std::filesystem::path& dir,
                                       const ModelLoadOptions& options, ModuleLoadReport* report) {
  SDXL_ASSIGN_OR_RETURN(auto config, LoadUNetConfig(dir));
  SDXL_ASSIGN_OR_RETURN(auto files, FindComponentWeights(dir, options.variant, options.source));
  try {
    // Allocated on the target device and dtype, uninitialized: every parameter is loaded next.
    auto unet = [&] {
      LoadAllocationScope scope(torch::TensorOptions().dtype(options.dtype).device(options.device));
      return UNet2DCondition(config);
    }();
    unet->eval();
    ModuleLoadOptions lo;
    lo.dtype = options.dtype;
    lo.device = options.device;
    lo.source = options.source;
    SDXL_ASSIGN_OR_RETURN(auto loaded, LoadModuleWeights(*unet, files, lo));
    if (report) *report = std::move(loaded);
    unet->PrepareForInference(options.channels_last_on_cpu && options.device.is_cpu());
    return unet;
  } catch (const std::exception& e) {
    return core::Internal("building the UNet from " + dir.string() + " failed: " + e.what());
  }
}

}  // namespace sdxl::sdxl
