// CLIP byte-level BPE, matching transformers 5.x CLIPTokenizer (tokenizers backend): see
// clip_tokenizer.h for the pipeline. Unicode properties, NFC and case mapping come from ICU.
#include "sdxl/clip_tokenizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/file_util.h"

namespace sdxl::sdxl {
namespace {

using Json = nlohmann::json;

// Pair key for the merge-rank table: "a\x01b" ("\x01" never occurs in byte-level symbols).
std::string PairKey(std::string_view a, std::string_view b) {
  std::string key;
  key.reserve(a.size() + b.size() + 1);
  key.append(a);
  key.push_back('\x01');
  key.append(b);
  return key;
}

void AppendUtf8(std::string& out, UChar32 c) {
  char buf[4];
  int32_t len = 0;
  UBool error = false;
  U8_APPEND(reinterpret_cast<uint8_t*>(buf), len, 4, c, error);
  if (!error) out.append(buf, static_cast<size_t>(len));
}

// GPT-2 / CLIP bytes_to_unicode: every byte gets a printable code point.
std::array<std::string, 256> BuildByteEncoder() {
  std::array<int, 256> cp{};
  std::array<bool, 256> direct{};
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  int n = 0;
  for (int b = 0; b < 256; ++b) cp[b] = direct[b] ? b : 256 + n++;
  std::array<std::string, 256> out;
  for (int b = 0; b < 256; ++b) AppendUtf8(out[b], cp[b]);
  return out;
}

const std::array<std::string, 256>& ByteEncoder() {
  static const std::array<std::string, 256> table = BuildByteEncoder();
  return table;
}

bool IsLetter(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0; }
bool IsNumber(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_N_MASK) != 0; }
bool IsSpace(UChar32 c) { return u_isUWhiteSpace(c); }

// Decodes UTF-8 into code points (invalid bytes become U+FFFD).
std::vector<UChar32> DecodeUtf8(std::string_view s) {
  std::vector<UChar32> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  int32_t i = 0;
  const auto n = static_cast<int32_t>(s.size());
  while (i < n) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    out.push_back(c < 0 ? 0xFFFD : c);
  }
  return out;
}

// NFC -> whitespace runs to " " -> per-character full lowercase (as the tokenizers normalizer
// sequence NFC, Replace(\s+, " "), Lowercase does; no final-sigma context rule).
std::vector<UChar32> Normalize(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  std::vector<UChar32> cps;
  if (U_SUCCESS(status)) {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(
        icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    icu::UnicodeString normalized = nfc->normalize(u, status);
    if (U_SUCCESS(status)) {
      std::string utf8;
      normalized.toUTF8String(utf8);
      cps = DecodeUtf8(utf8);
    }
  }
  if (!U_SUCCESS(status)) cps = DecodeUtf8(text);
  std::vector<UChar32> out;
  out.reserve(cps.size());
  bool in_space = false;
  for (UChar32 c : cps) {
    if (IsSpace(c)) {
      if (!in_space) out.push_back(' ');
      in_space = true;
      continue;
    }
    in_space = false;
    if (c == 0x130) {  // the one unconditional multi-char lowercase mapping (SpecialCasing.txt)
      out.push_back('i');
      out.push_back(0x307);
    } else {
      out.push_back(u_tolower(c));
    }
  }
  return out;
}

bool StartsWithAscii(const std::vector<UChar32>& s, size_t i, std::string_view lit) {
  if (i + lit.size() > s.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k) {
    if (s[i + k] != static_cast<UChar32>(static_cast<unsigned char>(lit[k]))) return false;
  }
  return true;
}

// The CLIP pre-tokenizer regex, applied as a leftmost-first scan, followed by the ByteLevel
// pre-tokenizer's GPT-2 split (which only changes the two special-token strings):
// <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// Returns pieces as [begin, end) index pairs into `s`.
std::vector<std::pair<size_t, size_t>> PreTokenize(const std::vector<UChar32>& s) {
  std::vector<std::pair<size_t, size_t>> pieces;
  size_t i = 0;
  while (i < s.size()) {
    const UChar32 c = s[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    size_t len = 0;
    const bool sot = StartsWithAscii(s, i, "<|startoftext|>");
    if (sot || StartsWithAscii(s, i, "<|endoftext|>")) {
      // The ByteLevel pre-tokenizer's GPT-2 regex then splits the match into "<|", the letters
      // and "|>" (the only CLIP pieces that regex splits further).
      const size_t letters = sot ? 11 : 9;
      pieces.emplace_back(i, i + 2);
      pieces.emplace_back(i + 2, i + 2 + letters);
      pieces.emplace_back(i + 2 + letters, i + 4 + letters);
      i += 4 + letters;
      continue;
    }
    if (c == '\'') {
      for (std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
        if (StartsWithAscii(s, i + 1, suffix)) {
          len = 1 + suffix.size();
          break;
        }
      }
    }
    if (len == 0) {
      if (IsLetter(c)) {
        size_t j = i;
        while (j < s.size() && IsLetter(s[j])) ++j;
        len = j - i;
      } else if (IsNumber(c)) {
        len = 1;
      } else {
        size_t j = i;
        while (j < s.size() && !IsSpace(s[j]) && !IsLetter(s[j]) && !IsNumber(s[j])) ++j;
        len = j - i;
      }
    }
    pieces.emplace_back(i, i + len);
    i += len;
  }
  return pieces;
}

// Reads a whole tokenizer file (vocab.json, merges.txt: a few MiB); the path is in the message.
core::Result<std::string> ReadFile(const std::filesystem::path& path) {
  auto text = core::ReadFile(path, 256u << 20);
  if (!text.ok()) {
    return core::Status(text.status().code(),
                        text.status().message() + "; check the tokenizer folder");
  }
  return text;
}

core::Result<Json> ReadJson(const std::filesystem::path& path) {
  SDXL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  try {
    return Json::parse(text);
  } catch (const std::exception& e) {
    return core::DataLoss(path.string() + " is not valid JSON: " + e.what());
  }
}

// A special-token entry is either "text" or {"content": "text", ...}.
std::optional<std::string> TokenContent(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) {
    return j["content"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

struct ClipTokenizer::Impl {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> id_to_token;
  std::unordered_map<std::string, int> merge_ranks;
  // Added (special) tokens matched verbatim in the raw text, longest first.
  std::vector<std::pair<std::string, int32_t>> added;
  int32_t bos = 0, eos = 0, pad = 0, unk = 0;
  int max_length = 77;

  mutable std::mutex cache_mu;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  int32_t Lookup(const std::string& token) const {
    auto it = vocab.find(token);
    return it == vocab.end() ? unk : it->second;
  }

  // BPE of one pre-tokenized piece (UTF-8 of the normalized text).
  void EncodePiece(const std::string& piece, std::vector<int32_t>& out) const {
    {
      std::lock_guard<std::mutex> lock(cache_mu);
      auto it = cache.find(piece);
      if (it != cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    const auto& enc = ByteEncoder();
    std::vector<std::string> word;
    word.reserve(piece.size());
    for (unsigned char b : piece) word.push_back(enc[b]);
    if (word.empty()) return;
    word.back() += "</w>";
    while (word.size() > 1) {
      int best_rank = INT_MAX;
      size_t best = 0;
      for (size_t k = 0; k + 1 < word.size(); ++k) {
        auto it = merge_ranks.find(PairKey(word[k], word[k + 1]));
        if (it != merge_ranks.end() && it->second < best_rank) {
          best_rank = it->second;
          best = k;
        }
      }
      if (best_rank == INT_MAX) break;
      // Merge every occurrence of the best pair, left to right.
      const std::string first = word[best], second = word[best + 1];
      std::vector<std::string> merged;
      merged.reserve(word.size());
      for (size_t k = 0; k < word.size();) {
        if (k + 1 < word.size() && word[k] == first && word[k + 1] == second) {
          merged.push_back(first + second);
          k += 2;
        } else {
          merged.push_back(std::move(word[k]));
          k += 1;
        }
      }
      word = std::move(merged);
    }
    std::vector<int32_t> ids;
    ids.reserve(word.size());
    for (const auto& sym : word) ids.push_back(Lookup(sym));
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(cache_mu);
    if (cache.size() > 50000) cache.clear();
    cache.emplace(piece, std::move(ids));
  }

  // Normalizes, pre-tokenizes and BPE-encodes text that holds no added token.
  void EncodeSegment(std::string_view segment, std::vector<int32_t>& out) const {
    const std::vector<UChar32> norm = Normalize(segment);
    for (auto [b, e] : PreTokenize(norm)) {
      std::string piece;
      for (size_t k = b; k < e; ++k) AppendUtf8(piece, norm[k]);
      EncodePiece(piece, out);
    }
  }

  std::vector<int32_t> Encode(std::string_view text) const {
    std::vector<int32_t> out;
    size_t seg_start = 0, i = 0;
    while (i < text.size()) {
      const std::pair<std::string, int32_t>* match = nullptr;
      for (const auto& tok : added) {  // longest first: the first hit is the longest
        if (text.compare(i, tok.first.size(), tok.first) == 0) {
          match = &tok;
          break;
        }
      }
      if (match == nullptr) {
        ++i;
        continue;
      }
      EncodeSegment(text.substr(seg_start, i - seg_start), out);
      out.push_back(match->second);
      i += match->first.size();
      seg_start = i;
    }
    EncodeSegment(text.substr(seg_start), out);
    return out;
  }
};

ClipTokenizer::ClipTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

core::Result<ClipTokenizer> ClipTokenizer::FromVocab(
    std::vector<std::pair<std::string, int>> vocab,
    std::vector<std::pair<std::string, std::string>> merges, std::string pad_token,
    int model_max_length) {
  auto impl = std::make_unique<Impl>();
  int max_id = -1;
  for (auto& [tok, id] : vocab) {
    if (id < 0) return core::InvalidArgument("vocab entry '" + tok + "' has a negative id");
    // Ids index a table: one far past the vocabulary's size (e.g. 2147483647) would allocate
    // gigabytes or overflow (found by fuzz/clip_tokenizer_fuzz.cc). CLIP's ids are 0..size-1.
    if (static_cast<size_t>(id) >= vocab.size()) {
      return core::InvalidArgument("vocab entry '" + tok + "' has id " + std::to_string(id) +
                                   ", outside 0.." + std::to_string(vocab.size() - 1) +
                                   " (the vocabulary has " + std::to_string(vocab.size()) +
                                   " entries)");
    }
    max_id = std::max(max_id, id);
  }
  impl->id_to_token.resize(static_cast<size_t>(max_id + 1));
  for (auto& [tok, id] : vocab) {
    impl->id_to_token[static_cast<size_t>(id)] = tok;
    impl->vocab[tok] = id;
  }
  for (size_t r = 0; r < merges.size(); ++r) {
    impl->merge_ranks.emplace(PairKey(merges[r].first, merges[r].second), static_cast<int>(r));
  }
  auto id_of = [&](const std::string& tok) -> core::Result<int32_t> {
    auto it = impl->vocab.find(tok);
    if (it == impl->vocab.end()) {
      return core::InvalidArgument("special token '" + tok +
                                   "' is not in the vocabulary: check vocab.json and the "
                                   "tokenizer config");
    }
    return it->second;
  };
  SDXL_ASSIGN_OR_RETURN(impl->bos, id_of("<|startoftext|>"));
  SDXL_ASSIGN_OR_RETURN(impl->eos, id_of("<|endoftext|>"));
  impl->unk = impl->eos;
  SDXL_ASSIGN_OR_RETURN(impl->pad, id_of(pad_token));
  if (model_max_length < 2) {
    return core::InvalidArgument("model_max_length must be at least 2 (BOS + EOS)");
  }
  impl->max_length = model_max_length;
  for (const std::string& tok :
       {std::string("<|startoftext|>"), std::string("<|endoftext|>"), pad_token}) {
    if (std::none_of(impl->added.begin(), impl->added.end(),
                     [&](const auto& a) { return a.first == tok; })) {
      impl->added.emplace_back(tok, impl->vocab.at(tok));
    }
  }
  std::sort(impl->added.begin(), impl->added.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return ClipTokenizer(std::move(impl));
}

core::Result<ClipTokenizer> ClipTokenizer::Load(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    return core::NotFound("tokenizer folder " + dir.string() +
                          " does not exist: pass the model folder that holds tokenizer/ and "
                          "tokenizer_2/");
  }
  std::vector<std::pair<std::string, int>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  Json tokenizer_json;
  const bool has_vocab_files = fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt");
  if (has_vocab_files) {
    SDXL_ASSIGN_OR_RETURN(Json vj, ReadJson(dir / "vocab.json"));
    if (!vj.is_object()) return core::DataLoss((dir / "vocab.json").string() + " is not an object");
    for (auto& [k, v] : vj.items()) {
      if (!v.is_number_integer()) {
        return core::DataLoss((dir / "vocab.json").string() + ": id of '" + k +
                              "' is not an integer");
      }
      vocab.emplace_back(k, v.get<int>());
    }
    SDXL_ASSIGN_OR_RETURN(std::string mt, ReadFile(dir / "merges.txt"));
    std::istringstream lines(mt);
    std::string line;
    size_t lineno = 0;
    while (std::getline(lines, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size() ||
          line.find(' ', sp + 1) != std::string::npos) {
        return core::DataLoss((dir / "merges.txt").string() + " line " + std::to_string(lineno) +
                              " is not 'A B'");
      }
      merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    }
  } else if (fs::exists(dir / "tokenizer.json")) {
    SDXL_ASSIGN_OR_RETURN(tokenizer_json, ReadJson(dir / "tokenizer.json"));
    try {
      const Json& model = tokenizer_json.at("model");
      for (auto& [k, v] : model.at("vocab").items()) {
        // get<int>() of a float such as 1e30 is undefined behaviour (fuzz/clip_tokenizer_fuzz.cc).
        if (!v.is_number_integer()) throw std::runtime_error("id of '" + k + "' is not an integer");
        vocab.emplace_back(k, v.get<int>());
      }
      for (const Json& m : model.at("merges")) {
        if (m.is_string()) {
          const std::string s = m.get<std::string>();
          const size_t sp = s.find(' ');
          if (sp == std::string::npos) throw std::runtime_error("bad merge '" + s + "'");
          merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        } else {
          merges.emplace_back(m.at(0).get<std::string>(), m.at(1).get<std::string>());
        }
      }
    } catch (const std::exception& e) {
      return core::DataLoss((dir / "tokenizer.json").string() +
                            " has no usable BPE model: " + e.what());
    }
  } else {
    return core::NotFound("no vocab.json + merges.txt (or tokenizer.json) in " + dir.string() +
                          ": is this a CLIP tokenizer folder?");
  }

  std::string pad = "<|endoftext|>";
  int max_length = 77;
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    if (!fs::exists(dir / name)) continue;
    SDXL_ASSIGN_OR_RETURN(Json cfg, ReadJson(dir / name));
    if (!cfg.is_object()) continue;
    if (cfg.contains("pad_token")) {
      if (auto p = TokenContent(cfg["pad_token"])) pad = *p;
    }
    if (cfg.contains("model_max_length") && cfg["model_max_length"].is_number()) {
      const double m = cfg["model_max_length"].get<double>();
      // transformers writes a huge sentinel (1e30) when unset; CLIP's context is 77.
      if (m >= 2 && m <= 1e6) max_length = static_cast<int>(m);
    }
  }
  SDXL_ASSIGN_OR_RETURN(ClipTokenizer tok,
                        FromVocab(std::move(vocab), std::move(merges), pad, max_length));
  return tok;
}

std::vector<int32_t> ClipTokenizer::Encode(std::string_view text) const {
  return impl_->Encode(text);
}

std::vector<int32_t> ClipTokenizer::EncodeForModel(std::string_view text, bool pad) const {
  std::vector<int32_t> content = impl_->Encode(text);
  const size_t max_content = static_cast<size_t>(impl_->max_length - 2);
  if (content.size() > max_content) content.resize(max_content);
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(impl_->max_length));
  ids.push_back(impl_->bos);
  ids.insert(ids.end(), content.begin(), content.end());
  ids.push_back(impl_->eos);
  if (pad) ids.resize(static_cast<size_t>(impl_->max_length), impl_->pad);
  return ids;
}

std::vector<std::string> ClipTokenizer::IdsToTokens(const std::vector<int32_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    if (id >= 0 && static_cast<size_t>(id) < impl_->id_to_token.size()) {
      out.push_back(impl_->id_to_token[static_cast<size_t>(id)]);
    } else {
      out.emplace_back("<invalid>");
    }
  }
  return out;
}

int32_t ClipTokenizer::bos_id() const { return impl_->bos; }
int32_t ClipTokenizer::eos_id() const { return impl_->eos; }
int32_t ClipTokenizer::pad_id() const { return impl_->pad; }
int32_t ClipTokenizer::unk_id() const { return impl_->unk; }
int ClipTokenizer::model_max_length() const { return impl_->max_length; }
size_t ClipTokenizer::vocab_size() const { return impl_->vocab.size(); }

}  // namespace sdxl::sdxl
