#pragma once
// SdxlTextEncoder: turns prompt strings into the conditioning tensors SDXL's UNet consumes, with
// both of SDXL's tokenizer/text-encoder pairs (`tokenizer`+`text_encoder` = CLIP-L,
// `tokenizer_2`+`text_encoder_2` = OpenCLIP bigG with projection).
//
// Two modes:
//  - kCompel (default; what the seed template does): compel 2.5.1 semantics with
//    returned_embeddings_type=PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED, requires_pooled=[False,
//    True], truncate_long_prompts=false. Weight syntax (`(words)1.2`, `word+`, `word-`, nesting;
//    see prompt_parser.h), each fragment tokenized separately, prompts longer than 75 tokens split
//    into 77-token chunks at sentence/phrase/word ends, per-token weighting against the empty
//    prompt's embedding, tan-lerp masking for weights < 1, pooled embedding from the raw prompt
//    text (first 77 tokens). Prompt and negative are padded to the same chunk count with empty
//    chunks (as CompelForSDXL / pad_conditioning_tensors_to_same_length do).
//  - kDiffusers: StableDiffusionXLPipeline.encode_prompt: plain tokenization truncated to 77, no
//    attention mask, no weighting; with guidance and no negative prompt, zeros when
//    `force_zeros_for_empty_prompt`.
//
// Not thread-safe (owns the two text encoder modules); call Encode from one thread at a time.
// Returned tensors are new, on the encoder device, in the encoder dtype.

#include "sdxl/torch_pch.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sdxl/clip_text_model.h"
#include "sdxl/clip_tokenizer.h"

namespace sdxl::sdxl {

enum class PromptMode { kCompel, kDiffusers };

struct PromptEmbeddings {
  torch::Tensor prompt_embeds;           // (B, 77*k, hidden1 + hidden2), e.g. (1, 77, 2048)
  torch::Tensor pooled_prompt_embeds;    // (B, projection_dim), e.g. (1, 1280)
  torch::Tensor negative_prompt_embeds;  // same shape as prompt_embeds; undefined if not asked
  torch::Tensor negative_pooled_prompt_embeds;  // same shape as pooled; undefined if not asked
};

struct EncodePromptOptions {
  PromptMode mode = PromptMode::kCompel;
  // Whether negative embeddings are wanted (classifier-free guidance).
  bool with_negative = false;
  // kDiffusers only: with_negative and no negative prompt -> zero negatives (model_index.json's
  // force_zeros_for_empty_prompt; SDXL sets it). kCompel always encodes the negative ("" if none).
  bool force_zeros_for_empty_prompt = true;
  // kCompel only: false = split long prompts into chunks (the default here), true = truncate.
  bool truncate_long_prompts = false;
  // Rows per prompt (num_images_per_prompt); embeddings are repeated along the batch dim.
  int num_images_per_prompt = 1;
};

struct TextEncoderLoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  std::string variant;  // "fp16": load model.fp16.safetensors
  // Where the weight files' bytes come from (not owned); nullptr: read them from disk.
  weights::WeightSource* source = nullptr;
};

class SdxlTextEncoder {
 public:
  // Loads tokenizer/, tokenizer_2/, text_encoder/, text_encoder_2/ from a diffusers folder.
  static core::Result<SdxlTextEncoder> Load(const std::filesystem::path& model_dir,
                                            const TextEncoderLoadOptions& options = {});
  // Assembles one from parts already loaded (tests, streaming loaders).
  SdxlTextEncoder(ClipTokenizer tokenizer1, ClipTextModel encoder1, ClipTokenizer tokenizer2,
                  ClipTextModel encoder2);
  SdxlTextEncoder(SdxlTextEncoder&&) noexcept;
  SdxlTextEncoder& operator=(SdxlTextEncoder&&) noexcept;
  ~SdxlTextEncoder();

  // Encodes one prompt (and its negative). Errors: bad weight syntax (InvalidArgument), LibTorch
  // failures (Internal).
  core::Result<PromptEmbeddings> Encode(const std::string& prompt,
                                        const std::optional<std::string>& negative_prompt,
                                        const EncodePromptOptions& options = {});

  const ClipTokenizer& tokenizer1() const;
  const ClipTokenizer& tokenizer2() const;
  ClipTextModel& encoder1();
  ClipTextModel& encoder2();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sdxl::sdxl
