#include "sdxl/nn_blocks.h"

#include <cmath>

namespace sdxl::sdxl {

namespace F = torch::nn::functional;

namespace {
// The options of the innermost LoadAllocationScope on this thread, if any.
thread_local std::optional<torch::TensorOptions> tl_load_allocation;
}  // namespace

LoadAllocationScope::LoadAllocationScope(torch::TensorOptions options)
    : previous_(tl_load_allocation) {
  tl_load_allocation = options;
}
LoadAllocationScope::~LoadAllocationScope() { tl_load_allocation = previous_; }

torch::nn::Conv2d MakeConv(int in, int out, int k, int stride, int padding) {
  if (padding < 0) padding = k / 2;
  if (!tl_load_allocation) {
    return torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(padding).bias(true));
  }
  // Built at 1x1x1 (trivial init), then given its real, uninitialized weight and bias. forward()
  // reads only stride/padding/dilation/groups from the options, which are the real ones.
  torch::nn::Conv2d conv(
      torch::nn::Conv2dOptions(1, 1, 1).stride(stride).padding(padding).bias(true));
  conv->options.in_channels(in).out_channels(out).kernel_size(k);
  torch::NoGradGuard no_grad;
  conv->weight.set_data(torch::empty({out, in, k, k}, *tl_load_allocation));
  conv->bias.set_data(torch::empty({out}, *tl_load_allocation));
  return conv;
}

namespace {
torch::nn::GroupNorm MakeGroupNorm(int groups, int channels, double eps) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps).affine(true));
}
torch::nn::Linear MakeLinear(int in, int out, bool bias) {
  if (!tl_load_allocation) return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  torch::nn::Linear l(torch::nn::LinearOptions(1, 1).bias(bias));  // see MakeConv
  l->options.in_features(in).out_features(out);
  torch::NoGradGuard no_grad;
  l->weight.set_data(torch::empty({out, in}, *tl_load_allocation));
  if (bias) l->bias.set_data(torch::empty({out}, *tl_load_allocation));
  return l;
}
}  // namespace

torch::Tensor TimestepSinusoids(const torch::Tensor& t, int dim, bool flip_sin_to_cos,
                                double freq_shift) {
  const int64_t half = dim / 2;
  // exponent = -log(10000) * arange(half, float32) / (half - shift)
  auto exponent =
      torch::arange(half, torch::TensorOptions().dtype(torch::kFloat32).device(t.device()));
  exponent = exponent * (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half) - freq_shift);
  auto freqs = torch::exp(exponent);
  auto arg = t.unsqueeze(1).to(torch::kFloat32) * freqs.unsqueeze(0);  // (N, half)
  auto emb = torch::cat({torch::sin(arg), torch::cos(arg)}, -1);
  if (flip_sin_to_cos) {
    emb = torch::cat({emb.slice(1, half), emb.slice(1, 0, half)}, -1);
  }
  if (dim % 2 == 1) emb = F::pad(emb, F::PadFuncOptions({0, 1, 0, 0}));
  return emb;  // (N, dim)
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int in_channels, int time_embed_dim) {
  linear_1_ = register_module("linear_1", MakeLinear(in_channels, time_embed_dim, true));
  linear_2_ = register_module("linear_2", MakeLinear(time_embed_dim, time_embed_dim, true));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x) {
  return ApplyLinear(linear_2_, SiluInPlace(ApplyLinear(linear_1_, x)));
}

ResnetBlock2DImpl::ResnetBlock2DImpl(int in, int out, int temb, int groups, double eps,
                                     double output_scale_factor)
    : output_scale_factor_(output_scale_factor) {
  norm1_ = register_module("norm1", MakeGroupNorm(groups, in, eps));
  conv1_ = register_module("conv1", MakeConv(in, out, 3));
  if (temb > 0) time_emb_proj_ = register_module("time_emb_proj", MakeLinear(temb, out, true));
  norm2_ = register_module("norm2", MakeGroupNorm(groups, out, eps));
  conv2_ = register_module("conv2", MakeConv(out, out, 3));
  if (in != out) conv_shortcut_ = register_module("conv_shortcut", MakeConv(in, out, 1, 1, 0));
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  // In-place ops only touch tensors created here; a + b == b + a exactly, so h.add_(skip) is
  // diffusers' input_tensor + hidden_states.
  auto h = conv1_(SiluInPlace(norm1_(x)));  // (B, out, H, W), x's memory format
  if (time_emb_proj_ && temb.defined()) {
    auto t = ApplyLinear(time_emb_proj_, torch::silu(temb));  // (B, out)
    h.add_(t.unsqueeze(-1).unsqueeze(-1));
  }
  h = conv2_(SiluInPlace(norm2_(h)));
  h.add_(conv_shortcut_ ? conv_shortcut_(x) : x);
  if (output_scale_factor_ != 1.0) h.div_(output_scale_factor_);
  return h;
}

AttentionImpl::AttentionImpl(const AttentionOptions& o) : o_(o) {
  const int inner = o.heads * o.dim_head;
  const int ctx = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_num_groups > 0) {
    group_norm_ =
        register_module("group_norm", MakeGroupNorm(o.norm_num_groups, o.query_dim, o.norm_eps));
  }
  to_q_ = register_module("to_q", MakeLinear(o.query_dim, inner, o.bias));
  to_k_ = register_module("to_k", MakeLinear(ctx, inner, o.bias));
  to_v_ = register_module("to_v", MakeLinear(ctx, inner, o.bias));
  auto to_out = register_module("to_out", torch::nn::ModuleList());
  to_out0_ = MakeLinear(inner, o.query_dim, true);
  to_out->push_back(to_out0_);
}

void AttentionImpl::FuseProjections() {
  torch::NoGradGuard no_grad;
  const bool self_attention = o_.cross_attention_dim <= 0;
  std::vector<torch::nn::Linear> parts;
  if (self_attention) parts.push_back(to_q_);
  parts.push_back(to_k_);
  parts.push_back(to_v_);
  std::vector<torch::Tensor> w, b;
  for (auto& l : parts) {
    w.push_back(l->weight);
    if (o_.bias) b.push_back(l->bias);
  }
  fused_weight_ = torch::cat(w, 0);  // (parts * inner, in)
  if (o_.bias) fused_bias_ = torch::cat(b, 0);
  // Rebind the separate parameters to views of the fused tensors: no duplicate memory, and a
  // later load into to_q/to_k/to_v still updates the fused weight.
  int64_t row = 0;
  for (auto& l : parts) {
    const int64_t n = l->weight.size(0);
    l->weight.set_data(fused_weight_.narrow(0, row, n));
    if (o_.bias) l->bias.set_data(fused_bias_.narrow(0, row, n));
    row += n;
  }
}

torch::Tensor AttentionImpl::ProjectContext(const torch::Tensor& context) {
  if (fused_weight_.defined() && o_.cross_attention_dim > 0) {
    return torch::linear(context, fused_weight_, fused_bias_);  // (B, S, 2*inner)
  }
  return torch::cat({ApplyLinear(to_k_, context), ApplyLinear(to_v_, context)}, -1);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x_in, const torch::Tensor& context,
                                     const torch::Tensor& context_kv) {
  auto x = x_in;
  const bool spatial = x.dim() == 4;
  int64_t B = x.size(0), C = 0, H = 0, W = 0;
  if (spatial) {
    C = x.size(1), H = x.size(2), W = x.size(3);
    // GroupNorm over (C/G, H, W) equals diffusers' GroupNorm over (C/G, H*W).
    if (group_norm_) x = group_norm_(x);
    x = x.permute({0, 2, 3, 1}).reshape({B, H * W, C});  // (B, HW, C); a view if channels-last
  } else if (group_norm_) {
    x = group_norm_(x.transpose(1, 2)).transpose(1, 2);
  }
  const int64_t heads = o_.heads;
  const int64_t inner = to_q_->weight.size(0), dh = inner / heads;
  // (B, L, parts * inner) -> part `i` as (B, h, L, dh) (a strided view, as SDPA accepts).
  auto head_view = [&](const torch::Tensor& t, int64_t parts, int64_t i) {
    return t.view({B, -1, parts, heads, dh}).select(2, i).transpose(1, 2);
  };
  torch::Tensor q, k, v;
  if (!context.defined() && fused_weight_.defined()) {        // self-attention, fused q|k|v
    auto qkv = torch::linear(x, fused_weight_, fused_bias_);  // (B, L, 3*inner)
    q = head_view(qkv, 3, 0), k = head_view(qkv, 3, 1), v = head_view(qkv, 3, 2);
  } else {
    q = head_view(ApplyLinear(to_q_, x), 1, 0);  // (B, h, L, dh)
    if (context.defined()) {
      auto kv = context_kv.defined() ? context_kv : ProjectContext(context);  // (B, S, 2*inner)
      k = head_view(kv, 2, 0), v = head_view(kv, 2, 1);
    } else {  // not fused (PrepareForInference not run)
      k = head_view(ApplyLinear(to_k_, x), 1, 0), v = head_view(ApplyLinear(to_v_, x), 1, 0);
    }
  }
  auto a = at::scaled_dot_product_attention(q, k, v);  // (B, h, L, dh)
  a = a.transpose(1, 2).reshape({B, -1, inner});       // (B, L, inner)
  auto out = ApplyLinear(to_out0_, a);                 // (B, L, query_dim)
  if (spatial) {
    // (B, HW, C) -> (B, C, H, W) in x_in's memory format (no copy when channels-last).
    out = out.view({B, H, W, C}).permute({0, 3, 1, 2}).contiguous(x_in.suggest_memory_format());
  }
  if (o_.residual_connection) out.add_(x_in);  // diffusers: hidden_states + residual
  return out;
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int dim, int heads, int dim_head,
                                                     int cross_attention_dim) {
  auto ln = [&](const char* name) {
    return register_module(
        name, torch::nn::LayerNorm(
                  torch::nn::LayerNormOptions({dim}).eps(1e-5).elementwise_affine(true)));
  };
  norm1_ = ln("norm1");
  attn1_ = register_module(
      "attn1",
      Attention(AttentionOptions{
          .query_dim = dim, .cross_attention_dim = 0, .heads = heads, .dim_head = dim_head}));
  norm2_ = ln("norm2");
  attn2_ = register_module("attn2",
                           Attention(AttentionOptions{.query_dim = dim,
                                                      .cross_attention_dim = cross_attention_dim,
                                                      .heads = heads,
                                                      .dim_head = dim_head}));
  norm3_ = ln("norm3");
  // ff.net = [GEGLU(proj: dim -> 2*4dim), Dropout, Linear(4dim -> dim)]
  auto ff = register_module("ff", std::make_shared<torch::nn::Module>());
  auto net = ff->register_module("net", torch::nn::ModuleList());
  auto geglu = std::make_shared<torch::nn::Module>();
  ff_proj_ = geglu->register_module("proj", MakeLinear(dim, dim * 8, true));
  net->push_back(geglu);
  net->push_back(torch::nn::Identity());
  ff_out_ = MakeLinear(dim * 4, dim, true);
  net->push_back(ff_out_);
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x_in,
                                                 const torch::Tensor& context,
                                                 const torch::Tensor& context_kv) {
  // Residual adds in place on the freshly computed branch (a + b == b + a exactly).
  auto x = attn1_(norm1_(x_in)).add_(x_in);            // (B, L, dim)
  x = attn2_(norm2_(x), context, context_kv).add_(x);  // cross-attention on (B, S, Cc)
  auto p = ApplyLinear(ff_proj_, norm3_(x));           // (B, L, 8dim)
  const int64_t d4 = p.size(-1) / 2;
  auto g = torch::gelu(p.narrow(-1, d4, d4)).mul_(p.narrow(-1, 0, d4));  // GEGLU, exact erf
  return ApplyLinear(ff_out_, g).add_(x);
}

Transformer2DImpl::Transformer2DImpl(int heads, int dim_head, int in_channels, int num_layers,
                                     int cross_attention_dim, int norm_num_groups,
                                     bool use_linear_projection)
    : linear_(use_linear_projection) {
  const int inner = heads * dim_head;
  norm_ = register_module("norm", MakeGroupNorm(norm_num_groups, in_channels, 1e-6));
  if (linear_) {
    proj_in_lin_ = register_module("proj_in", MakeLinear(in_channels, inner, true));
  } else {
    proj_in_conv_ = register_module("proj_in", MakeConv(in_channels, inner, 1, 1, 0));
  }
  blocks_ = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int i = 0; i < num_layers; ++i) {
    blocks_->push_back(BasicTransformerBlock(inner, heads, dim_head, cross_attention_dim));
  }
  if (linear_) {
    proj_out_lin_ = register_module("proj_out", MakeLinear(inner, in_channels, true));
  } else {
    proj_out_conv_ = register_module("proj_out", MakeConv(inner, in_channels, 1, 1, 0));
  }
}

std::vector<torch::Tensor> Transformer2DImpl::ProjectContext(const torch::Tensor& context) {
  std::vector<torch::Tensor> kv;
  for (const auto& blk : *blocks_) {
    kv.push_back(blk->as<BasicTransformerBlock>()->ProjectContext(context));
  }
  return kv;
}

torch::Tensor Transformer2DImpl::forward(const torch::Tensor& x, const torch::Tensor& context,
                                         c10::ArrayRef<torch::Tensor> context_kv) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const auto format = x.suggest_memory_format();
  auto h = norm_(x);
  int64_t inner = 0;
  // (B, C, H, W) <-> (B, HW, C): views when channels-last; copies (as diffusers) otherwise.
  if (linear_) {
    inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({B, H * W, inner});  // (B, HW, C)
    h = ApplyLinear(proj_in_lin_, h);
  } else {
    h = proj_in_conv_(h);
    inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({B, H * W, inner});
  }
  size_t i = 0;
  for (const auto& blk : *blocks_) {
    const torch::Tensor kv = i < context_kv.size() ? context_kv[i] : torch::Tensor();
    h = blk->as<BasicTransformerBlock>()->forward(h, context, kv);
    ++i;
  }
  if (linear_) {
    h = ApplyLinear(proj_out_lin_, h);
    h = h.reshape({B, H, W, inner}).permute({0, 3, 1, 2}).contiguous(format);  // (B, C, H, W)
  } else {
    h = h.reshape({B, H, W, inner}).permute({0, 3, 1, 2}).contiguous(format);
    h = proj_out_conv_(h);
  }
  return h.add_(x);  // diffusers: hidden_states + residual
}

Downsample2DImpl::Downsample2DImpl(int channels, int padding) {
  conv_ = register_module("conv", MakeConv(channels, channels, 3, 2, padding));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) { return conv_(x); }

Upsample2DImpl::Upsample2DImpl(int channels) {
  conv_ = register_module("conv", MakeConv(channels, channels, 3));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x_in,
                                      std::optional<std::array<int64_t, 2>> size) {
  auto x = x_in;
  const auto dtype = x.scalar_type();
  if (dtype == torch::kBFloat16) x = x.to(torch::kFloat32);
  if (x.size(0) >= 64) x = x.contiguous();
  auto opts = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size) {
    opts.size(std::vector<int64_t>{(*size)[0], (*size)[1]});
  } else {
    opts.scale_factor(std::vector<double>{2.0, 2.0});
  }
  x = F::interpolate(x, opts);
  if (dtype == torch::kBFloat16) x = x.to(dtype);
  return conv_(x);
}

void PrepareForInference(torch::nn::Module& root, bool channels_last) {
  torch::NoGradGuard no_grad;
  for (const auto& m : root.modules(/*include_self=*/true)) {
    if (auto attn = std::dynamic_pointer_cast<AttentionImpl>(m)) attn->FuseProjections();
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(m); conv && channels_last) {
      conv->weight.set_data(conv->weight.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

}  // namespace sdxl::sdxl
