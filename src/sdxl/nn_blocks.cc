#include "sdxl/nn_blocks.h"

#include <cmath>

namespace sdxl::sdxl {

namespace F = torch::nn::functional;

torch::nn::Conv2d MakeConv(int in, int out, int k, int stride, int padding) {
  if (padding < 0) padding = k / 2;
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(padding).bias(true));
}

namespace {
torch::nn::GroupNorm MakeGroupNorm(int groups, int channels, double eps) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps).affine(true));
}
torch::nn::Linear MakeLinear(int in, int out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
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
  return linear_2_(torch::silu(linear_1_(x)));
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
  auto h = conv1_(torch::silu(norm1_(x)));  // (B, out, H, W)
  if (time_emb_proj_ && temb.defined()) {
    auto t = time_emb_proj_(torch::silu(temb));  // (B, out)
    h = h + t.unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2_(torch::silu(norm2_(h)));
  auto skip = conv_shortcut_ ? conv_shortcut_(x) : x;
  auto out = skip + h;
  if (output_scale_factor_ != 1.0) out = out / output_scale_factor_;
  return out;
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

torch::Tensor AttentionImpl::forward(const torch::Tensor& x_in, const torch::Tensor& context) {
  auto x = x_in;
  const bool spatial = x.dim() == 4;
  int64_t B = x.size(0), C = 0, H = 0, W = 0;
  if (spatial) {
    C = x.size(1), H = x.size(2), W = x.size(3);
    x = x.view({B, C, H * W}).transpose(1, 2);  // (B, HW, C)
  }
  if (group_norm_) x = group_norm_(x.transpose(1, 2)).transpose(1, 2);
  auto q = to_q_(x);                                  // (B, L, inner)
  const auto& ctx = context.defined() ? context : x;  // (B, S, Cc)
  auto k = to_k_(ctx);
  auto v = to_v_(ctx);
  const int64_t heads = o_.heads, dh = k.size(-1) / heads;
  q = q.view({B, -1, heads, dh}).transpose(1, 2);  // (B, h, L, dh)
  k = k.view({B, -1, heads, dh}).transpose(1, 2);
  v = v.view({B, -1, heads, dh}).transpose(1, 2);
  auto a = at::scaled_dot_product_attention(q, k, v);  // (B, h, L, dh)
  a = a.transpose(1, 2).reshape({B, -1, heads * dh}).to(q.dtype());
  auto out = to_out0_(a);  // (B, L, query_dim)
  if (spatial) out = out.transpose(-1, -2).reshape({B, C, H, W});
  if (o_.residual_connection) out = out + x_in;
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
                                                 const torch::Tensor& context) {
  auto x = attn1_(norm1_(x_in)) + x_in;       // (B, L, dim)
  x = attn2_(norm2_(x), context) + x;         // cross-attention on (B, S, Cc)
  auto p = ff_proj_(norm3_(x)).chunk(2, -1);  // 2 x (B, L, 4dim)
  x = ff_out_(p[0] * torch::gelu(p[1])) + x;  // GEGLU, exact erf GELU
  return x;
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

torch::Tensor Transformer2DImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  auto h = norm_(x);
  int64_t inner = 0;
  if (linear_) {
    inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({B, H * W, inner});  // (B, HW, C)
    h = proj_in_lin_(h);
  } else {
    h = proj_in_conv_(h);
    inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({B, H * W, inner});
  }
  for (const auto& blk : *blocks_) {
    h = blk->as<BasicTransformerBlock>()->forward(h, context);
  }
  if (linear_) {
    h = proj_out_lin_(h);
    h = h.reshape({B, H, W, inner}).permute({0, 3, 1, 2}).contiguous();  // (B, C, H, W)
  } else {
    h = h.reshape({B, H, W, inner}).permute({0, 3, 1, 2}).contiguous();
    h = proj_out_conv_(h);
  }
  return h + x;
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

}  // namespace sdxl::sdxl
