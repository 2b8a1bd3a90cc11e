// libFuzzer target: the CLIP tokenizer (sdxl/clip_tokenizer.h) on prompt text, and its loader on
// tokenizer files as a Hub repo ships them.
//  - Input starting with "FILES\n": the rest is vocab.json, merges.txt and tokenizer_config.json
//    separated by lines "====" (a fourth part, if any, is text to encode); they are written to a
//    private temp folder and loaded with ClipTokenizer::Load. "TOKJSON\n": the same with
//    tokenizer.json (the `tokenizers` format) in place of vocab.json + merges.txt.
//  - Anything else: text encoded by a fixed byte-level tokenizer (all 256 byte symbols, as SDXL's
//    tokenizers have, plus a few merges), padded with <|endoftext|> or "!" (tokenizer_2).
// Invariants: every id names a vocabulary entry; EncodeForModel is [BOS] + the first
// max_length - 2 content ids + [EOS] (+ pad ids up to max_length when padding); Load failures
// carry a message.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "sdxl/clip_tokenizer.h"

namespace {

namespace fs = std::filesystem;
using sdxl::sdxl::ClipTokenizer;

void Check(bool ok) {
  if (!ok) std::abort();
}

std::string Utf8(int cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// openai/CLIP's bytes_to_unicode symbols, their "</w>" forms, a few merges, the specials.
ClipTokenizer ByteLevel(const std::string& pad) {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) cs.push_back(256 + n++);
  }
  std::vector<std::string> tokens;
  for (int c : cs) tokens.push_back(Utf8(c));
  for (int c : cs) tokens.push_back(Utf8(c) + "</w>");
  for (const char* t :
       {"ca", "cat</w>", "th", "the</w>", "an", "and</w>", "<|startoftext|>", "<|endoftext|>"}) {
    tokens.push_back(t);
  }
  std::vector<std::pair<std::string, int>> vocab;
  for (size_t i = 0; i < tokens.size(); ++i) vocab.emplace_back(tokens[i], static_cast<int>(i));
  auto tok = ClipTokenizer::FromVocab(
      vocab,
      {{"c", "a"}, {"ca", "t</w>"}, {"t", "h"}, {"th", "e</w>"}, {"a", "n"}, {"an", "d</w>"}}, pad);
  Check(tok.ok());
  return std::move(tok).value();
}

void CheckEncode(const ClipTokenizer& tok, std::string_view text, bool full_byte_vocab) {
  const std::vector<int32_t> content = tok.Encode(text);
  for (const std::string& t : tok.IdsToTokens(content)) {
    // Load()ed vocabularies may have holes; the fixed one maps every symbol.
    if (full_byte_vocab) Check(t != "<invalid>" && !t.empty());
  }
  const auto max_length = static_cast<size_t>(tok.model_max_length());
  const size_t kept = std::min(content.size(), max_length - 2);
  for (bool pad : {false, true}) {
    const std::vector<int32_t> ids = tok.EncodeForModel(text, pad);
    Check(ids.size() == (pad ? max_length : kept + 2));
    Check(ids.front() == tok.bos_id() && ids[kept + 1] == tok.eos_id());
    Check(std::equal(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(kept),
                     ids.begin() + 1));
    for (size_t i = kept + 2; i < ids.size(); ++i) Check(ids[i] == tok.pad_id());
  }
}

// A private folder for the tokenizer files, removed when the process exits.
struct TempFolder {
  fs::path path;
  TempFolder() {
    std::string tmpl = (fs::temp_directory_path() / "clip_tokenizer_fuzz.XXXXXX").string();
    Check(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& TempDir() {
  static const TempFolder folder;
  return folder.path;
}

void FuzzFiles(std::string_view rest, bool tokenizer_json) {
  // The files this mode writes, in input order; every other tokenizer file is removed.
  std::vector<std::string> names = {"vocab.json", "merges.txt", "tokenizer_config.json"};
  if (tokenizer_json) names = {"tokenizer.json", "tokenizer_config.json"};
  std::vector<std::string_view> parts;
  constexpr std::string_view kSep = "\n====\n";
  while (parts.size() < names.size()) {
    const size_t at = rest.find(kSep);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSep.size());
  }
  parts.push_back(rest);  // the last file, or the text to encode when all files were given
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"}) {
    fs::remove(TempDir() / name);
  }
  for (size_t i = 0; i < names.size() && i < parts.size(); ++i) {
    std::ofstream(TempDir() / names[i], std::ios::binary | std::ios::trunc)
        .write(parts[i].data(), static_cast<std::streamsize>(parts[i].size()));
  }
  auto tok = ClipTokenizer::Load(TempDir());
  if (!tok.ok()) {
    Check(!tok.status().message().empty());
    return;
  }
  Check(tok->model_max_length() >= 2);
  const bool has_text = parts.size() > names.size();
  CheckEncode(*tok, has_text ? parts.back() : std::string_view("a photo of a cat"), false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.starts_with("FILES\n")) {
    FuzzFiles(input.substr(6), /*tokenizer_json=*/false);
    return 0;
  }
  if (input.starts_with("TOKJSON\n")) {
    FuzzFiles(input.substr(8), /*tokenizer_json=*/true);
    return 0;
  }
  static const ClipTokenizer kEndOfTextPad = ByteLevel("<|endoftext|>");
  static const ClipTokenizer kBangPad = ByteLevel("!");
  CheckEncode(size % 2 == 0 ? kEndOfTextPad : kBangPad, input, true);
  return 0;
}
