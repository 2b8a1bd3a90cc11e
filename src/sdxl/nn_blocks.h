#pragma once
// Building blocks shared by the SDXL UNet and the VAE decoder, registered under diffusers' names.
//
// Each module mirrors one diffusers class (ResnetBlock2D, Attention with AttnProcessor2_0,
// BasicTransformerBlock, Transformer2DModel, Upsample2D, Downsample2D, TimestepEmbedding) so that
// `named_parameters()` yields exactly the diffusers state-dict keys and loading is a lookup plus a
// shape check. Numerics follow diffusers (eps values, exact-erf GELU, SDPA attention).
//
// Inference speed-ups that keep diffusers' math (up to float reassociation), set up once after
// loading by PrepareForInference: attention projections fused into one GEMM (self-attention
// q|k|v, cross-attention k|v; the separate parameters become views of the fused weight, so the
// state dict is unchanged), optional channels-last convolution weights (oneDNN's NHWC kernels are
// faster on CPU; every block keeps its input's memory format), cross-attention keys/values
// computable once per prompt (ProjectContext) and reused on every denoising step, fused-bias
// `at::linear`, in-place activations and residual adds on freshly computed tensors.
// Modules are not thread-safe; one forward at a time per instance. Torch must be included first.

#include <array>
#include <optional>

#include "sdxl/torch_pch.h"

namespace sdxl::sdxl {

// get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift), computed in float32.
// t: (N) -> (N, dim)
torch::Tensor TimestepSinusoids(const torch::Tensor& t, int dim, bool flip_sin_to_cos,
                                double freq_shift);

// diffusers TimestepEmbedding: linear_1 -> SiLU -> linear_2.
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int in_channels, int time_embed_dim);
  torch::Tensor forward(const torch::Tensor& x);  // (B, in) -> (B, time_embed_dim)

 private:
  torch::nn::Linear linear_1_{nullptr}, linear_2_{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// diffusers ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1).
// temb_channels <= 0 means no time embedding (VAE).
class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  ResnetBlock2DImpl(int in_channels, int out_channels, int temb_channels, int groups, double eps,
                    double output_scale_factor = 1.0);
  // x: (B, in, H, W), temb: (B, temb_channels) or undefined -> (B, out, H, W)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv_shortcut_{nullptr};
  torch::nn::Linear time_emb_proj_{nullptr};
  double output_scale_factor_;
};
TORCH_MODULE(ResnetBlock2D);

// diffusers Attention + AttnProcessor2_0. Used as self/cross attention in transformer blocks
// (no bias on q/k/v, no group norm) and as the VAE mid-block attention (bias, group norm,
// residual connection, 4-D input).
struct AttentionOptions {
  int query_dim = 0;
  int cross_attention_dim = 0;  // 0: same as query_dim
  int heads = 1;
  int dim_head = 64;
  bool bias = false;        // q/k/v bias
  int norm_num_groups = 0;  // >0: GroupNorm on the input ("group_norm")
  double norm_eps = 1e-5;
  bool residual_connection = false;
};
class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& o);
  // x: (B, L, C) or (B, C, H, W) (any memory format; the output has x's); context: (B, S, Cc)
  // or undefined (self-attention); context_kv: ProjectContext(context) computed beforehand, or
  // undefined to compute it here.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {},
                        const torch::Tensor& context_kv = {});
  // Cross-attention keys and values of `context` in one tensor: (B, S, Cc) -> (B, S, 2*inner).
  torch::Tensor ProjectContext(const torch::Tensor& context);
  // Concatenates to_q|to_k|to_v (self-attention) or to_k|to_v (cross-attention) into one weight
  // and rebinds the separate parameters to views of it. Call once, after loading the weights.
  void FuseProjections();

 private:
  AttentionOptions o_;
  torch::nn::GroupNorm group_norm_{nullptr};
  torch::nn::Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr}, to_out0_{nullptr};
  // Fused projections (undefined until FuseProjections): self: q|k|v, cross: k|v.
  torch::Tensor fused_weight_, fused_bias_;
};
TORCH_MODULE(Attention);

// diffusers BasicTransformerBlock (layer_norm, GEGLU feed-forward).
class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int dim, int heads, int dim_head, int cross_attention_dim);
  // x: (B, L, dim), context: (B, S, cross_attention_dim) -> (B, L, dim); context_kv: optional
  // ProjectContext(context).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context,
                        const torch::Tensor& context_kv = {});
  torch::Tensor ProjectContext(const torch::Tensor& context) {
    return attn2_->ProjectContext(context);
  }

 private:
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr};
  Attention attn1_{nullptr}, attn2_{nullptr};
  torch::nn::Linear ff_proj_{nullptr}, ff_out_{nullptr};  // ff.net.0.proj, ff.net.2
};
TORCH_MODULE(BasicTransformerBlock);

// diffusers Transformer2DModel, continuous input (linear or 1x1-conv projections).
class Transformer2DImpl : public torch::nn::Module {
 public:
  Transformer2DImpl(int heads, int dim_head, int in_channels, int num_layers,
                    int cross_attention_dim, int norm_num_groups, bool use_linear_projection);
  // x: (B, C, H, W) (any memory format; the output has x's), context: (B, S, Cc)
  // -> (B, C, H, W). context_kv: ProjectContext(context) computed beforehand, or empty.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context,
                        c10::ArrayRef<torch::Tensor> context_kv = {});
  // Cross-attention keys/values of every transformer block for `context` (one per block).
  std::vector<torch::Tensor> ProjectContext(const torch::Tensor& context);

 private:
  bool linear_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Linear proj_in_lin_{nullptr}, proj_out_lin_{nullptr};    // use_linear_projection
  torch::nn::Conv2d proj_in_conv_{nullptr}, proj_out_conv_{nullptr};  // otherwise (1x1 convs)
  torch::nn::ModuleList blocks_{nullptr};
};
TORCH_MODULE(Transformer2D);

// diffusers Downsample2D with a conv (stride 2).
class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(int channels, int padding);
  torch::Tensor forward(const torch::Tensor& x);  // (B, C, H, W) -> (B, C, ~H/2, ~W/2)

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Downsample2D);

// diffusers Upsample2D: nearest x2 (or to `size`) then a 3x3 conv.
class Upsample2DImpl : public torch::nn::Module {
 public:
  explicit Upsample2DImpl(int channels);
  // x: (B, C, H, W) -> (B, C, 2H, 2W) or (B, C, size[0], size[1])
  torch::Tensor forward(const torch::Tensor& x, std::optional<std::array<int64_t, 2>> size = {});

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Upsample2D);

// Conv2d with bias and symmetric padding (kernel k, stride s, padding p).
torch::nn::Conv2d MakeConv(int in, int out, int k, int stride = 1, int padding = -1);

// While a LoadAllocationScope lives on this thread, the convolutions and linear layers that
// MakeConv (and the blocks in this file) build get their weight and bias allocated with
// `options` and NOT initialized (torch::empty), instead of LibTorch's random initialization in
// float32 on the CPU. For modules whose every parameter is then loaded from a checkpoint: the
// full SDXL UNet spent ~12 s of a 15 s load on the H200 initializing 2.6 B parameters it then
// overwrote, and a parameter already on the target device and dtype is filled in place (no
// second copy). Without a scope the layers are initialized as usual (tests rely on it).
class LoadAllocationScope {
 public:
  explicit LoadAllocationScope(torch::TensorOptions options);
  ~LoadAllocationScope();
  LoadAllocationScope(const LoadAllocationScope&) = delete;
  LoadAllocationScope& operator=(const LoadAllocationScope&) = delete;

 private:
  std::optional<torch::TensorOptions> previous_;
};

// y = x W^T + b through at::linear (bias fused into the GEMM, like torch.nn.functional.linear;
// the C++ frontend's Linear::forward runs a separate matmul and add).
inline torch::Tensor ApplyLinear(const torch::nn::Linear& l, const torch::Tensor& x) {
  return torch::linear(x, l->weight, l->bias);
}

// SiLU in place on a tensor the caller owns (a temporary); returns it.
inline torch::Tensor SiluInPlace(torch::Tensor t) {
  torch::silu_(t);
  return t;
}

// One-time preparation of a loaded model for inference: fuses the projections of every
// Attention below `root` and, when `channels_last`, stores every 4-D convolution weight in
// channels-last (NHWC) memory format. Weights keep their values, names and shapes.
void PrepareForInference(torch::nn::Module& root, bool channels_last);

}  // namespace sdxl::sdxl
