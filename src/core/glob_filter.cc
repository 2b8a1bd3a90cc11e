#include "core/glob_filter.h"

#include <cstddef>

namespace sdxl::core {
namespace {

// UTF-8 -> code points. A byte that does not start a valid sequence becomes 0xDC00 + byte (as
// Python's surrogateescape), so it matches only itself and never a valid character.
std::u32string Decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (b0 < 0x80) {
      len = 1;
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      cp = b0 & 0x07;
    }
    bool valid = len > 0 && i + static_cast<std::size_t>(len) <= s.size();
    for (int k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((b & 0xC0) != 0x80) {
        valid = false;
      } else {
        cp = (cp << 6) | (b & 0x3F);
      }
    }
    if (valid && len > 1) {
      // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
      static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) valid = false;
    }
    if (!valid) {
      out.push_back(0xDC00 + b0);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

}  // namespace

GlobPattern::GlobPattern(std::string_view pattern) : text_(pattern) {
  const std::u32string p = Decode(pattern);
  const std::size_t n = p.size();
  std::size_t i = 0;
  while (i < n) {
    const char32_t c = p[i++];
    Token t;
    if (c == U'*') {
      if (!tokens_.empty() && tokens_.back().kind == Token::Kind::kStar) continue;  // ** == *
      t.kind = Token::Kind::kStar;
    } else if (c == U'?') {
      t.kind = Token::Kind::kAny;
    } else if (c == U'[') {
      // fnmatch: "[!" negates; a ']' right after "[" or "[!" is a member; no closing ']' means
      // the '[' is a literal.
      std::size_t j = i;
      if (j < n && p[j] == U'!') ++j;
      if (j < n && p[j] == U']') ++j;
      while (j < n && p[j] != U']') ++j;
      if (j >= n) {
        t.ch = c;  // literal '['
      } else {
        t.kind = Token::Kind::kClass;
        std::size_t k = i;
        if (p[k] == U'!') {
          t.negate = true;
          ++k;
        }
        while (k < j) {
          const char32_t lo = p[k];
          if (k + 2 < j && p[k + 1] == U'-') {  // "a-z"; a trailing '-' ("[a-]") is a member
            const char32_t hi = p[k + 2];
            if (lo <= hi) t.ranges.emplace_back(lo, hi);  // a reversed range matches nothing
            k += 3;
          } else {
            t.ranges.emplace_back(lo, lo);
            ++k;
          }
        }
        i = j + 1;
      }
    } else {
      t.ch = c;
    }
    tokens_.push_back(std::move(t));
  }
}

bool GlobPattern::TokenMatches(const Token& token, char32_t c) {
  switch (token.kind) {
    case Token::Kind::kLiteral:
      return token.ch == c;
    case Token::Kind::kAny:
      return true;
    case Token::Kind::kClass: {
      bool in = false;
      for (const auto& [lo, hi] : token.ranges) {
        if (c >= lo && c <= hi) {
          in = true;
          break;
        }
      }
      return in != token.negate;
    }
    case Token::Kind::kStar:
      return false;
  }
  return false;
}

bool GlobPattern::Matches(std::string_view text) const {
  const std::u32string s = Decode(text);
  // Single-character tokens plus '*': the classic greedy match that backtracks to the last star
  // (linear in practice, O(n*m) at worst; no recursion).
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::u32string::npos;
  std::size_t mark = 0;
  while (t < s.size()) {
    if (p < tokens_.size() && tokens_[p].kind == Token::Kind::kStar) {
      star = p++;
      mark = t;
      continue;
    }
    if (p < tokens_.size() && TokenMatches(tokens_[p], s[t])) {
      ++p;
      ++t;
      continue;
    }
    if (star == std::u32string::npos) return false;
    p = star + 1;
    t = ++mark;
  }
  while (p < tokens_.size() && tokens_[p].kind == Token::Kind::kStar) ++p;
  return p == tokens_.size();
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  return GlobPattern(pattern).Matches(text);
}

void PathFilter::Add(Rule rule, std::string_view pattern) {
  rules_.emplace_back(rule, GlobPattern(pattern));
}

bool PathFilter::Includes(std::string_view relative_path) const {
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    if (it->second.Matches(relative_path)) return it->first == Rule::kInclude;
  }
  return true;
}

}  // namespace sdxl::core
