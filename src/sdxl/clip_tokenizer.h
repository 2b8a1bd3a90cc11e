#pragma once
// ClipTokenizer: the CLIP byte-level BPE tokenizer, as transformers' CLIPTokenizer (v5, the
// `tokenizers` backend) applies it to SDXL's `tokenizer/` and `tokenizer_2/` folders.
//
// Loaded from a folder holding vocab.json + merges.txt, plus tokenizer_config.json and/or
// special_tokens_map.json for the pad token and model_max_length (defaults: pad <|endoftext|>,
// 77). Pipeline: NFC normalisation, whitespace runs -> one space, lowercase; the CLIP
// pre-tokenizer regex; UTF-8 bytes -> bytes_to_unicode chars; BPE by merge rank with "</w>" on the
// last char of every word; ids from the vocab (unknown -> unk id). Special tokens that the config
// registers (<|startoftext|>, <|endoftext|>, and the pad token, e.g. "!" for SDXL's tokenizer_2)
// are matched verbatim in the raw text before normalisation, as transformers does.
//
// Thread-safe: immutable after Load; Encode may be called from several threads (the BPE cache is
// guarded). Everything returned is owned by the caller.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::sdxl {

class ClipTokenizer {
 public:
  // Reads `dir`/vocab.json, `dir`/merges.txt and, when present, tokenizer_config.json and
  // special_tokens_map.json. Errors name the file and what is wrong with it.
  static core::Result<ClipTokenizer> Load(const std::filesystem::path& dir);

  // Builds a tokenizer from in-memory vocab/merges (merges lines without the "#version" header).
  // `pad_token` must be in the vocab.
  static core::Result<ClipTokenizer> FromVocab(
      std::vector<std::pair<std::string, int>> vocab,
      std::vector<std::pair<std::string, std::string>> merges,
      std::string pad_token = "<|endoftext|>", int model_max_length = 77);

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // Content token ids of `text`, no BOS/EOS, no truncation.
  std::vector<int32_t> Encode(std::string_view text) const;

  // [BOS] + ids + [EOS], truncated to max_length (content cut to max_length - 2, EOS kept) and,
  // when `pad` is true, padded to max_length with the pad id. Equals transformers'
  // `tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids`.
  std::vector<int32_t> EncodeForModel(std::string_view text, bool pad = true) const;

  // The token strings of `ids` ("</w>" kept), for debugging and the CLI.
  std::vector<std::string> IdsToTokens(const std::vector<int32_t>& ids) const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  int model_max_length() const;
  size_t vocab_size() const;

 private:
  struct Impl;
  explicit ClipTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sdxl::sdxl
