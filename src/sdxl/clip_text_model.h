#pragma once
// CLIPTextModel / CLIPTextModelWithProjection (transformers 5.x `modeling_clip.py`) in LibTorch.
//
// One module class serves both: with `config.with_projection` it also owns `text_projection`
// (Linear hidden->projection_dim, no bias) and returns `text_embeds`. Submodules are registered
// under the transformers key names (`text_model.embeddings.token_embedding.weight`,
// `text_model.encoder.layers.{i}.self_attn.q_proj.weight`, `text_model.final_layer_norm.weight`,
// `text_projection.weight`), so LoadModuleWeights loads a checkpoint by name. Files written by
// transformers 5.x's CLIPTextModel (keys without the `text_model.` prefix) load too.
//
// Not thread-safe: one forward at a time per instance (LibTorch modules are not re-entrant with
// respect to training flags; inference itself holds no state). Tensors returned are new.

#include "sdxl/torch_pch.h"

#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"
#include "weights/weight_source.h"

namespace sdxl::sdxl {

// Hyper-parameters from a text encoder's config.json (transformers CLIPTextConfig names). FromJson
// fills keys the file omits with CLIPTextConfig's defaults (hidden 512, 8 heads, ...), not with
// the CLIP-L values below.
struct ClipTextConfig {
  int vocab_size = 49408;
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int max_position_embeddings = 77;
  int projection_dim = 768;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // quick_gelu | gelu | gelu_new | gelu_pytorch_tanh | relu
  // 2 (legacy configs, e.g. SDXL's): pool at argmax(ids); else at the first id == eos_token_id.
  int eos_token_id = 49407;
  bool with_projection = false;  // architectures[0] == "CLIPTextModelWithProjection"

  static core::Result<ClipTextConfig> FromJson(std::string_view json_text);
  static core::Result<ClipTextConfig> FromFile(const std::filesystem::path& config_json);
};

struct ClipTextOutput {
  torch::Tensor penultimate;        // (B, L, hidden): hidden_states[-2], not final-normed
  torch::Tensor last_hidden_state;  // (B, L, hidden): final_layer_norm(last layer); undefined
                                    // when Forward was asked for the penultimate layer only
  torch::Tensor pooled;             // (B, hidden): last_hidden_state at the EOS position
  torch::Tensor text_embeds;        // (B, projection_dim): with_projection only
};

class ClipTextModelImpl : public torch::nn::Module {
 public:
  // Parameters are allocated uninitialised with `options` (dtype/device): the model is meant to
  // be filled by LoadModuleWeights, so no time is spent on random initialisation.
  explicit ClipTextModelImpl(const ClipTextConfig& config,
                             torch::TensorOptions options = torch::TensorOptions());

  // input_ids: (B, L) integer, L <= max_position_embeddings.
  // attention_mask: optional (B, L), 1 = attend, 0 = masked (combined with the causal mask as
  // transformers does). With `penultimate_only`, the last layer, final norm and pooling are
  // skipped (SDXL's first encoder only needs hidden_states[-2]).
  ClipTextOutput Forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                         bool penultimate_only = false);

  const ClipTextConfig& config() const { return config_; }

 private:
  struct Affine {  // Linear or LayerNorm parameters (bias undefined when absent)
    torch::Tensor weight, bias;
  };
  struct Layer {
    Affine layer_norm1, layer_norm2, q_proj, k_proj, v_proj, out_proj, fc1, fc2;
  };
  torch::Tensor Activation(const torch::Tensor& x) const;
  torch::Tensor RunLayer(const Layer& layer, const torch::Tensor& x,
                         const torch::Tensor& attn_mask) const;
  torch::Tensor Norm(const Affine& p, const torch::Tensor& x) const;

  ClipTextConfig config_;
  torch::Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  Affine final_layer_norm_, text_projection_;
};
TORCH_MODULE(ClipTextModel);

struct ClipLoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  std::string variant;  // "fp16" picks model.fp16.safetensors
  // Where the weight files' bytes come from (not owned); nullptr: read them from disk.
  weights::WeightSource* source = nullptr;
};

// Reads `dir`/config.json, builds the model and loads its safetensors weights (eval mode).
core::Result<ClipTextModel> LoadClipTextModel(const std::filesystem::path& dir,
                                              const ClipLoadOptions& options = {});

}  // namespace sdxl::sdxl
