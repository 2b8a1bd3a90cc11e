// SDXL prompt encoding: compel 2.5.1's weighting and long-prompt chunking, and diffusers'
// encode_prompt. Function names follow compel's (embeddings_provider.py) so the two can be read
// side by side.
#include "sdxl/prompt_weighting.h"

#include <cmath>
#include <future>

#include "sdxl/prompt_parser.h"

namespace sdxl::sdxl {
namespace {

constexpr double kPi = 3.14159265358979323846;

// One tokenizer + text encoder pair (compel's EmbeddingsProvider).
struct Provider {
  const ClipTokenizer* tok = nullptr;
  ClipTextModel* enc = nullptr;
  bool need_penultimate_only = true;  // encoder 1 never needs its last layer
  torch::Tensor empty_z;              // cached (1, 77, H)

  int64_t max_tokens() const { return tok->model_max_length(); }

  torch::Device device() const { return (*enc)->parameters().front().device(); }
  torch::Dtype dtype() const { return (*enc)->parameters().front().scalar_type(); }

  // hidden_states[-2] of one chunk: ids (L), mask (L) or empty -> (1, L, H)
  torch::Tensor Encode(const std::vector<int64_t>& ids, const std::vector<int64_t>& mask) {
    auto opts = torch::TensorOptions().dtype(torch::kLong);
    torch::Tensor t = torch::tensor(ids, opts).unsqueeze(0).to(device());
    torch::Tensor m;
    if (!mask.empty()) m = torch::tensor(mask, opts).unsqueeze(0).to(device());
    return (*enc)->Forward(t, m, /*penultimate_only=*/true).penultimate;
  }

  // [BOS, EOS, pad * (max - 2)] encoded without a mask.
  const torch::Tensor& EmptyZ() {
    if (!empty_z.defined()) {
      std::vector<int64_t> ids = {tok->bos_id(), tok->eos_id()};
      ids.resize(static_cast<size_t>(max_tokens()), tok->pad_id());
      empty_z = Encode(ids, {});
    }
    return empty_z;
  }

  // compel get_token_ids(include_start_and_end_markers=False) for one fragment.
  std::vector<int64_t> FragmentIds(const std::string& text, bool truncate) const {
    std::vector<int32_t> ids = tok->Encode(text);
    if (truncate && ids.size() > static_cast<size_t>(max_tokens() - 2)) {
      ids.resize(static_cast<size_t>(max_tokens() - 2));
    }
    return {ids.begin(), ids.end()};
  }

  // compel _find_next_best_split_point (SENTENCES, falling back to PHRASES, WORDS, BRUTAL).
  size_t SplitPoint(const std::vector<int64_t>& ids, size_t max_length, bool truncate) const {
    if (truncate || ids.size() <= max_length) return max_length;
    std::vector<int32_t> window(ids.begin(), ids.begin() + static_cast<long>(max_length));
    const std::vector<std::string> text = tok->IdsToTokens(window);
    auto find = [&](auto pred) -> std::optional<size_t> {
      for (size_t i = text.size(); i-- > 0;) {
        if (pred(text[i])) return i;
      }
      return std::nullopt;
    };
    auto ends_word = [](const std::string& t) {
      return t.size() >= 4 && t.compare(t.size() - 4, 4, "</w>") == 0;
    };
    std::optional<size_t> at = find([](const std::string& t) { return t == ".</w>"; });
    if (!at) {
      at = find([](const std::string& t) {
        return t == ".</w>" || t == ",</w>" || t == ";</w>" || t == ":</w>";
      });
    }
    if (!at) at = find(ends_word);
    return at ? *at + 1 : max_length;
  }
};

struct Chunked {
  std::vector<int64_t> ids;
  std::vector<double> weights;
  std::vector<int64_t> mask;
};

// compel _chunk_and_pad_token_ids.
Chunked ChunkAndPad(const Provider& p, std::vector<int64_t> ids, std::vector<double> weights,
                    bool truncate) {
  Chunked out;
  const size_t max = static_cast<size_t>(p.max_tokens());
  const size_t body = max - 2;
  while (true) {
    const size_t split = std::min(p.SplitPoint(ids, body, truncate), ids.size());
    out.ids.push_back(p.tok->bos_id());
    out.weights.push_back(1.0);
    out.ids.insert(out.ids.end(), ids.begin(), ids.begin() + static_cast<long>(split));
    out.weights.insert(out.weights.end(), weights.begin(),
                       weights.begin() + static_cast<long>(split));
    out.ids.push_back(p.tok->eos_id());
    out.weights.push_back(1.0);
    while (out.ids.size() % max != 0) {
      out.ids.push_back(p.tok->pad_id());
      out.weights.push_back(1.0);
    }
    ids.erase(ids.begin(), ids.begin() + static_cast<long>(split));
    weights.erase(weights.begin(), weights.begin() + static_cast<long>(split));
    if (truncate || ids.empty()) break;
  }
  out.mask.assign(out.ids.size(), 1);  // padding_attention_mask_value = 1
  return out;
}

// compel build_weighted_embedding_tensor: (1, 77 * k, H), float32 when any weight != 1 (torch
// type promotion with the float32 weights), else the encoder dtype.
torch::Tensor BuildWeighted(Provider& p, const Chunked& c, const std::vector<int64_t>& mask) {
  const size_t max = static_cast<size_t>(p.max_tokens());
  std::vector<torch::Tensor> parts;
  for (size_t start = 0; start < c.ids.size(); start += max) {
    std::vector<int64_t> ids(c.ids.begin() + static_cast<long>(start),
                             c.ids.begin() + static_cast<long>(start + max));
    std::vector<int64_t> m(mask.begin() + static_cast<long>(start),
                           mask.begin() + static_cast<long>(start + max));
    torch::Tensor z = p.Encode(ids, m);
    bool all_one = true;
    std::vector<float> w(max);
    for (size_t i = 0; i < max; ++i) {
      w[i] = static_cast<float>(c.weights[start + i]);
      all_one = all_one && w[i] == 1.0f;
    }
    if (all_one) {
      parts.push_back(z);
      continue;
    }
    torch::Tensor wt = torch::tensor(w).reshape({static_cast<int64_t>(max), 1}).to(z.device());
    wt = wt.expand(z.sizes());
    torch::Tensor identity = wt == 1;
    const torch::Tensor& empty = p.EmptyZ();
    torch::Tensor weighted = empty + (z - empty) * wt;
    parts.push_back(torch::where(identity, z, weighted));
  }
  return torch::cat(parts, 1);
}

// compel _get_token_ranges_for_fragments (truncate_long_prompts=False semantics when !truncate).
core::Result<std::vector<std::optional<std::pair<size_t, size_t>>>> TokenRanges(
    const Provider& p, const std::vector<int64_t>& all, const std::vector<PromptFragment>& frags,
    bool truncate) {
  std::vector<std::optional<std::pair<size_t, size_t>>> out;
  const size_t max = static_cast<size_t>(p.max_tokens());
  size_t start = 0;
  for (const auto& f : frags) {
    const std::vector<int64_t> ids = p.FragmentIds(f.text, truncate);
    if (ids.empty()) {
      out.emplace_back(std::nullopt);
      continue;
    }
    if (truncate && start >= max - 1) break;
    while (true) {
      if (start >= all.size() - 1) {
        if (truncate) {
          start = all.size() - 1;
          break;
        }
        return core::Internal("couldn't find the tokens of prompt fragment '" + f.text + "'");
      }
      if (all[start] == ids[0]) break;
      ++start;
    }
    size_t end = start, rel = 0;
    while (true) {
      if (end >= all.size() - 1) {
        if (truncate) {
          end = all.size() - 1;
          break;
        }
        return core::Internal("couldn't find the end of prompt fragment '" + f.text + "'");
      }
      if (all[end] == ids[rel]) {
        if (++rel == ids.size()) break;
        ++end;
      } else if (!truncate && (all[end] == p.tok->eos_id() || all[end] == p.tok->pad_id() ||
                               all[end] == p.tok->bos_id())) {
        ++end;
      } else {
        return core::Internal("token sequence mismatch for prompt fragment '" + f.text + "'");
      }
    }
    out.emplace_back(std::make_pair(start, end));
    start = end + 1;
  }
  return out;
}

// compel get_embeddings_for_weighted_prompt_fragments for one prompt: (1, 77 * k, H).
core::Result<torch::Tensor> EncodeFragments(Provider& p, const std::vector<PromptFragment>& frags,
                                            bool truncate) {
  std::vector<int64_t> ids;
  std::vector<double> weights;
  for (const auto& f : frags) {
    const auto fid = p.FragmentIds(f.text, truncate);
    ids.insert(ids.end(), fid.begin(), fid.end());
    weights.insert(weights.end(), fid.size(), f.weight);
  }
  const Chunked c = ChunkAndPad(p, std::move(ids), std::move(weights), truncate);
  torch::Tensor base = BuildWeighted(p, c, c.mask);
  std::vector<torch::Tensor> embeddings = {base};
  std::vector<double> lerp = {1.0};
  SDXL_ASSIGN_OR_RETURN(auto ranges, TokenRanges(p, c.ids, frags, truncate));
  const size_t max = static_cast<size_t>(p.max_tokens());
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (frags[i].weight >= 1 || !ranges[i]) continue;
    std::vector<int64_t> mask = c.mask;
    for (size_t k = ranges[i]->first; k <= ranges[i]->second; ++k) mask[k] = 0;
    if (!truncate) {
      for (size_t k = 0; k < mask.size(); k += max) mask[k] = 1;
      for (size_t k = max - 1; k < mask.size(); k += max) mask[k] = 1;
    }
    embeddings.push_back(BuildWeighted(p, c, mask));
    const double w = std::max(1e-5, frags[i].weight);
    lerp.push_back(std::tan((1.0 - w) * kPi / 2));
  }
  // apply_embedding_weights(normalize=True): weights in the embeddings' dtype.
  torch::Tensor stacked = torch::stack(embeddings, 1);  // (1, n, 77k, H)
  torch::Tensor w =
      torch::tensor(lerp, torch::kDouble).to(stacked.scalar_type()).to(stacked.device());
  w = w / torch::sum(w);
  torch::Tensor lerped = torch::sum(stacked * w.reshape({-1, 1, 1}), 1);  // (1, 77k, H)
  return lerped.to(p.dtype());
}

torch::Tensor RepeatRows(const torch::Tensor& t, int n) {
  if (n <= 1) return t;
  std::vector<int64_t> reps(static_cast<size_t>(t.dim()), 1);
  reps[0] = n;
  return t.repeat(reps);
}

// Appends empty_z chunks along the token dim until `t` has `tokens` tokens.
torch::Tensor PadWithEmpty(const torch::Tensor& t, int64_t tokens, const torch::Tensor& empty) {
  torch::Tensor out = t;
  while (out.size(1) < tokens) out = torch::cat({out, empty.to(out.scalar_type())}, 1);
  return out;
}

}  // namespace

struct SdxlTextEncoder::Impl {
  ClipTokenizer tok1, tok2;
  ClipTextModel enc1, enc2;
  Provider p1, p2;

  Impl(ClipTokenizer t1, ClipTextModel e1, ClipTokenizer t2, ClipTextModel e2)
      : tok1(std::move(t1)), tok2(std::move(t2)), enc1(std::move(e1)), enc2(std::move(e2)) {
    p1.tok = &tok1;
    p1.enc = &enc1;
    p2.tok = &tok2;
    p2.enc = &enc2;
  }

  // compel: (conditioning (1, 77k, H1 + H2), pooled (1, P)).
  core::Result<std::pair<torch::Tensor, torch::Tensor>> Compel(const std::string& text,
                                                               bool truncate) {
    SDXL_ASSIGN_OR_RETURN(auto frags, ParsePrompt(text));
    SDXL_ASSIGN_OR_RETURN(torch::Tensor left, EncodeFragments(p1, frags, truncate));
    SDXL_ASSIGN_OR_RETURN(torch::Tensor right, EncodeFragments(p2, frags, truncate));
    // get_pooled_embeddings: the raw prompt, truncated and padded to 77, no mask.
    const auto ids32 = tok2.EncodeForModel(text);
    torch::Tensor ids =
        torch::tensor(std::vector<int64_t>(ids32.begin(), ids32.end()), torch::kLong).unsqueeze(0);
    torch::Tensor pooled = enc2->Forward(ids).text_embeds;
    return std::make_pair(torch::cat({left, right}, -1), pooled);
  }

  // diffusers encode_prompt for one prompt: ((1, 77, H1 + H2), (1, P)).
  std::pair<torch::Tensor, torch::Tensor> Diffusers(const std::string& text) {
    auto to_tensor = [](const std::vector<int32_t>& v) {
      return torch::tensor(std::vector<int64_t>(v.begin(), v.end()), torch::kLong).unsqueeze(0);
    };
    torch::Tensor h1 = enc1->Forward(to_tensor(tok1.EncodeForModel(text)), {}, true).penultimate;
    ClipTextOutput o2 = enc2->Forward(to_tensor(tok2.EncodeForModel(text)));
    torch::Tensor embeds = torch::cat({h1, o2.penultimate}, -1).to(p2.dtype());
    return {embeds, o2.text_embeds};
  }
};

SdxlTextEncoder::SdxlTextEncoder(ClipTokenizer tokenizer1, ClipTextModel encoder1,
                                 ClipTokenizer tokenizer2, ClipTextModel encoder2)
    : impl_(std::make_unique<Impl>(std::move(tokenizer1), std::move(encoder1),
                                   std::move(tokenizer2), std::move(encoder2))) {}
SdxlTextEncoder::SdxlTextEncoder(SdxlTextEncoder&&) noexcept = default;
SdxlTextEncoder& SdxlTextEncoder::operator=(SdxlTextEncoder&&) noexcept = default;
SdxlTextEncoder::~SdxlTextEncoder() = default;

const ClipTokenizer& SdxlTextEncoder::tokenizer1() const { return impl_->tok1; }
const ClipTokenizer& SdxlTextEncoder::tokenizer2() const { return impl_->tok2; }
ClipTextModel& SdxlTextEncoder::encoder1() { return impl_->enc1; }
ClipTextModel& SdxlTextEncoder::encoder2() { return impl_->enc2; }

core::Result<SdxlTextEncoder> SdxlTextEncoder::Load(const std::filesystem::path& model_dir,
                                                    const TextEncoderLoadOptions& options) {
  SDXL_ASSIGN_OR_RETURN(ClipTokenizer t1, ClipTokenizer::Load(model_dir / "tokenizer"));
  SDXL_ASSIGN_OR_RETURN(ClipTokenizer t2, ClipTokenizer::Load(model_dir / "tokenizer_2"));
  ClipLoadOptions lo{options.dtype, options.device, options.variant, options.source};
  // Both encoders at once: with a streaming source their bytes arrive at the same time.
  auto first = std::async(std::launch::async, [&] {
    auto r = LoadClipTextModel(model_dir / "text_encoder", lo);
    if (!r.ok() && options.source) options.source->Cancel(r.status());
    return r;
  });
  auto second = LoadClipTextModel(model_dir / "text_encoder_2", lo);
  if (!second.ok() && options.source) options.source->Cancel(second.status());
  auto first_result = first.get();
  if (!first_result.ok()) return first_result.status();
  if (!second.ok()) return second.status();
  ClipTextModel e1 = std::move(first_result).value();
  ClipTextModel e2 = std::move(second).value();
  if (!e2->config().with_projection) {
    return core::InvalidArgument((model_dir / "text_encoder_2").string() +
                                 " is not a CLIPTextModelWithProjection: SDXL needs its pooled "
                                 "projection (check config.json 'architectures')");
  }
  return SdxlTextEncoder(std::move(t1), std::move(e1), std::move(t2), std::move(e2));
}

core::Result<PromptEmbeddings> SdxlTextEncoder::Encode(
    const std::string& prompt, const std::optional<std::string>& negative_prompt,
    const EncodePromptOptions& options) {
  if (options.num_images_per_prompt < 1) {
    return core::InvalidArgument("num_images_per_prompt must be at least 1");
  }
  try {
    torch::NoGradGuard no_grad;
    PromptEmbeddings out;
    if (options.mode == PromptMode::kDiffusers) {
      std::tie(out.prompt_embeds, out.pooled_prompt_embeds) = impl_->Diffusers(prompt);
      if (options.with_negative) {
        if (!negative_prompt && options.force_zeros_for_empty_prompt) {
          out.negative_prompt_embeds = torch::zeros_like(out.prompt_embeds);
          out.negative_pooled_prompt_embeds = torch::zeros_like(out.pooled_prompt_embeds);
        } else {
          std::tie(out.negative_prompt_embeds, out.negative_pooled_prompt_embeds) =
              impl_->Diffusers(negative_prompt.value_or(""));
        }
      }
    } else {
      SDXL_ASSIGN_OR_RETURN(auto pos, impl_->Compel(prompt, options.truncate_long_prompts));
      out.prompt_embeds = pos.first;
      out.pooled_prompt_embeds = pos.second;
      if (options.with_negative) {
        SDXL_ASSIGN_OR_RETURN(
            auto neg, impl_->Compel(negative_prompt.value_or(""), options.truncate_long_prompts));
        out.negative_prompt_embeds = neg.first;
        out.negative_pooled_prompt_embeds = neg.second;
        // pad_conditioning_tensors_to_same_length: append empty-prompt chunks.
        const int64_t tokens =
            std::max(out.prompt_embeds.size(1), out.negative_prompt_embeds.size(1));
        const torch::Tensor empty = torch::cat({impl_->p1.EmptyZ(), impl_->p2.EmptyZ()}, -1);
        out.prompt_embeds = PadWithEmpty(out.prompt_embeds, tokens, empty);
        out.negative_prompt_embeds = PadWithEmpty(out.negative_prompt_embeds, tokens, empty);
      }
    }
    const int n = options.num_images_per_prompt;
    out.prompt_embeds = RepeatRows(out.prompt_embeds, n);
    out.pooled_prompt_embeds = RepeatRows(out.pooled_prompt_embeds, n);
    if (out.negative_prompt_embeds.defined()) {
      out.negative_prompt_embeds = RepeatRows(out.negative_prompt_embeds, n);
      out.negative_pooled_prompt_embeds = RepeatRows(out.negative_pooled_prompt_embeds, n);
    }
    return out;
  } catch (const std::exception& e) {
    return core::Internal(std::string("text encoding failed in LibTorch: ") + e.what());
  }
}

}  // namespace sdxl::sdxl
