// CLIP text transformer (transformers 5.x modeling_clip.py) on LibTorch; see clip_text_model.h.
#include "sdxl/clip_text_model.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sdxl/module_loader.h"

namespace sdxl::sdxl {
namespace {

using Json = nlohmann::json;

template <typename T>
T Get(const Json& j, const char* key, T fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].get<T>();
}

}  // namespace

core::Result<ClipTextConfig> ClipTextConfig::FromJson(std::string_view json_text) {
  try {
    Json j = Json::parse(json_text);
    if (j.contains("text_config") && j["text_config"].is_object()) j = j["text_config"];
    ClipTextConfig c;  // transformers CLIPTextConfig defaults for omitted keys:
    c.vocab_size = Get(j, "vocab_size", 49408);
    c.hidden_size = Get(j, "hidden_size", 512);
    c.intermediate_size = Get(j, "intermediate_size", 2048);
    c.num_hidden_layers = Get(j, "num_hidden_layers", 12);
    c.num_attention_heads = Get(j, "num_attention_heads", 8);
    c.max_position_embeddings = Get(j, "max_position_embeddings", 77);
    c.projection_dim = Get(j, "projection_dim", 512);
    c.layer_norm_eps = Get(j, "layer_norm_eps", 1e-5);
    c.hidden_act = Get<std::string>(j, "hidden_act", "quick_gelu");
    c.eos_token_id = Get(j, "eos_token_id", 49407);
    c.with_projection = false;
    if (j.contains("architectures") && j["architectures"].is_array()) {
      for (const auto& a : j["architectures"]) {
        c.with_projection = c.with_projection || a == "CLIPTextModelWithProjection";
      }
    }
    if (c.hidden_size <= 0 || c.num_attention_heads <= 0 ||
        c.hidden_size % c.num_attention_heads != 0 || c.num_hidden_layers <= 0 ||
        c.vocab_size <= 0 || c.max_position_embeddings <= 0 || c.intermediate_size <= 0) {
      return core::InvalidArgument(
          "text encoder config has inconsistent sizes (hidden_size must be a positive multiple "
          "of num_attention_heads; layers, vocab and positions positive)");
    }
    for (const char* act : {"quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}) {
      if (c.hidden_act == act) return c;
    }
    return core::InvalidArgument("text encoder hidden_act '" + c.hidden_act +
                                 "' is not supported (quick_gelu, gelu, gelu_new, relu)");
  } catch (const std::exception& e) {
    return core::InvalidArgument(std::string("text encoder config.json is invalid: ") + e.what());
  }
}

core::Result<ClipTextConfig> ClipTextConfig::FromFile(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) {
    return core::NotFound("cannot open " + config_json.string() +
                          ": the text encoder folder needs its config.json");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto cfg = FromJson(ss.str());
  if (!cfg.ok()) return cfg.status().Annotate(config_json.string());
  return cfg;
}

namespace {

// A parameter-holding child module registered under `name` of `parent`.
std::shared_ptr<torch::nn::Module> Child(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

}  // namespace

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& config, torch::TensorOptions options)
    : config_(config) {
  const int64_t h = config.hidden_size, inter = config.intermediate_size;
  options = options.requires_grad(false);
  auto param = [&](torch::nn::Module& m, const char* name, std::vector<int64_t> shape) {
    return m.register_parameter(name, torch::empty(shape, options), /*requires_grad=*/false);
  };
  auto linear = [&](torch::nn::Module& parent, const char* name, int64_t in, int64_t out,
                    bool bias = true) {
    auto m = Child(parent, name);
    Affine p;
    p.weight = param(*m, "weight", {out, in});
    if (bias) p.bias = param(*m, "bias", {out});
    return p;
  };
  auto norm = [&](torch::nn::Module& parent, const char* name) {
    auto m = Child(parent, name);
    return Affine{param(*m, "weight", {h}), param(*m, "bias", {h})};
  };
  auto text_model = Child(*this, "text_model");
  auto embeddings = Child(*text_model, "embeddings");
  token_embedding_ =
      param(*Child(*embeddings, "token_embedding"), "weight", {config.vocab_size, h});
  position_embedding_ = param(*Child(*embeddings, "position_embedding"), "weight",
                              {config.max_position_embeddings, h});
  auto layers = Child(*Child(*text_model, "encoder"), "layers");
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    auto holder = Child(*layers, std::to_string(i));
    auto attn = Child(*holder, "self_attn");
    auto mlp = Child(*holder, "mlp");
    Layer l;
    l.k_proj = linear(*attn, "k_proj", h, h);
    l.v_proj = linear(*attn, "v_proj", h, h);
    l.q_proj = linear(*attn, "q_proj", h, h);
    l.out_proj = linear(*attn, "out_proj", h, h);
    l.layer_norm1 = norm(*holder, "layer_norm1");
    l.fc1 = linear(*mlp, "fc1", h, inter);
    l.fc2 = linear(*mlp, "fc2", inter, h);
    l.layer_norm2 = norm(*holder, "layer_norm2");
    layers_.push_back(std::move(l));
  }
  final_layer_norm_ = norm(*text_model, "final_layer_norm");
  if (config.with_projection) {
    text_projection_ = linear(*this, "text_projection", h, config.projection_dim, false);
  }
  eval();
}

torch::Tensor ClipTextModelImpl::Norm(const Affine& p, const torch::Tensor& x) const {
  return torch::layer_norm(x, {config_.hidden_size}, p.weight, p.bias, config_.layer_norm_eps);
}

torch::Tensor ClipTextModelImpl::Activation(const torch::Tensor& x) const {
  const std::string& act = config_.hidden_act;
  if (act == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (act == "gelu") return torch::gelu(x);
  if (act == "relu") return torch::relu(x);
  return torch::gelu(x, "tanh");  // gelu_new, gelu_pytorch_tanh
}

torch::Tensor ClipTextModelImpl::RunLayer(const Layer& l, const torch::Tensor& x,
                                          const torch::Tensor& attn_mask) const {
  // x: (B, L, H); attn_mask: (B|1, 1, L, L) bool, true = attend
  const int64_t b = x.size(0), len = x.size(1);
  const int64_t heads = config_.num_attention_heads;
  const int64_t hd = config_.hidden_size / heads;
  auto lin = [](const Affine& p, const torch::Tensor& t) {
    return torch::linear(t, p.weight, p.bias);
  };
  auto split = [&](const torch::Tensor& t) {  // (B, L, H) -> (B, heads, L, hd)
    return t.view({b, len, heads, hd}).transpose(1, 2);
  };
  torch::Tensor h = Norm(l.layer_norm1, x);
  torch::Tensor q = split(lin(l.q_proj, h));
  torch::Tensor k = split(lin(l.k_proj, h));
  torch::Tensor v = split(lin(l.v_proj, h));
  torch::Tensor a = at::scaled_dot_product_attention(q, k, v, attn_mask, /*dropout_p=*/0.0,
                                                     /*is_causal=*/false,
                                                     /*scale=*/1.0 / std::sqrt(double(hd)));
  a = a.transpose(1, 2).reshape({b, len, config_.hidden_size});  // (B, L, H)
  torch::Tensor r = x + lin(l.out_proj, a);
  h = Norm(l.layer_norm2, r);
  return r + lin(l.fc2, Activation(lin(l.fc1, h)));
}

ClipTextOutput ClipTextModelImpl::Forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& attention_mask,
                                          bool penultimate_only) {
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = input_ids.to(token_embedding_.device(), torch::kLong);
  const int64_t len = ids.size(1);
  TORCH_CHECK(len <= config_.max_position_embeddings, "sequence length ", len,
              " exceeds max_position_embeddings ", config_.max_position_embeddings);
  // (B, L, H)
  torch::Tensor x =
      torch::embedding(token_embedding_, ids) + position_embedding_.slice(0, 0, len).unsqueeze(0);
  const auto dev = ids.device();
  torch::Tensor mask =  // causal: (1, 1, L, L), true where key index <= query index
      torch::ones({len, len}, torch::TensorOptions().dtype(torch::kBool).device(dev))
          .tril()
          .view({1, 1, len, len});
  if (attention_mask.defined()) {  // padding mask on keys: (B, 1, 1, L)
    torch::Tensor keys = attention_mask.to(dev).to(torch::kBool).view({ids.size(0), 1, 1, len});
    mask = mask & keys;
  }
  const int n = config_.num_hidden_layers;
  ClipTextOutput out;
  for (int i = 0; i < n - 1; ++i) x = RunLayer(layers_[i], x, mask);
  out.penultimate = x;  // hidden_states[-2]
  if (penultimate_only) return out;
  x = RunLayer(layers_[n - 1], x, mask);
  out.last_hidden_state = Norm(final_layer_norm_, x);
  torch::Tensor pos;  // (B)
  if (config_.eos_token_id == 2) {
    pos = ids.to(torch::kInt).argmax(-1);
  } else {
    pos = (ids.to(torch::kInt) == config_.eos_token_id).to(torch::kInt).argmax(-1);
  }
  out.pooled = out.last_hidden_state.index(
      {torch::arange(ids.size(0), torch::TensorOptions().dtype(torch::kLong).device(dev)), pos});
  if (text_projection_.weight.defined()) {
    out.text_embeds = torch::linear(out.pooled, text_projection_.weight);
  }
  return out;
}

core::Result<ClipTextModel> LoadClipTextModel(const std::filesystem::path& dir,
                                              const ClipLoadOptions& options) {
  SDXL_ASSIGN_OR_RETURN(ClipTextConfig config, ClipTextConfig::FromFile(dir / "config.json"));
  SDXL_ASSIGN_OR_RETURN(auto files, FindComponentWeights(dir, options.variant, options.source));
  try {
    ClipTextModel model(config, torch::TensorOptions().dtype(options.dtype).device(options.device));
    ModuleLoadOptions load;
    load.dtype = options.dtype;
    load.device = options.device;
    load.source = options.source;
    // transformers 5.x CLIPTextModel.save_pretrained drops the "text_model." prefix.
    load.file_prefix_renames = {{"embeddings.", "text_model.embeddings."},
                                {"encoder.", "text_model.encoder."},
                                {"final_layer_norm.", "text_model.final_layer_norm."}};
    auto report = LoadModuleWeights(*model, files, load);
    if (!report.ok()) return report.status().Annotate(dir.string());
    model->eval();
    return model;
  } catch (const std::exception& e) {
    return core::Internal("building the text encoder from " + dir.string() +
                          " failed: " + e.what());
  }
}

}  // namespace sdxl::sdxl
