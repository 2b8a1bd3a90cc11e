// Compel prompt parser: a hand-written PEG that mirrors compel 2.5.1's pyparsing grammar
// (`build_parser_syntax`) for plain prompts, weights and nesting, including its quirks (e.g.
// "cat(dog)1.2" is plain text at the top level, "(a)-0.5" is "a" x0.9 followed by "0.5").
#include "sdxl/prompt_parser.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <unordered_map>

namespace sdxl::sdxl {
namespace {

constexpr std::string_view kSyntactic = "()\",.+-=";
constexpr double kPlusBase = 1.1;
constexpr double kMinusBase = 0.9;
// Deepest nesting of parentheses and quotes accepted (compel's recursive parser has a limit too).
constexpr int kMaxNesting = 64;

bool IsPpWhite(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
// Python's string.whitespace.
bool IsPyAsciiSpace(char c) { return IsPpWhite(c) || c == '\x0b' || c == '\x0c'; }
bool IsSyntactic(char c) { return kSyntactic.find(c) != std::string_view::npos; }

// Python str.isspace() for one code point (Unicode White_Space plus the ASCII separators).
bool IsPyUnicodeSpace(UChar32 c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || u_isUWhiteSpace(c);
}

// Fragment.__init__ unescaping of \( \) \" (applied each time compel builds a Fragment).
std::string Unescape(std::string text) {
  if (text.find('\\') == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() &&
        (text[i + 1] == '(' || text[i + 1] == ')' || text[i + 1] == '"')) {
      continue;  // drop the backslash, keep the symbol
    }
    out.push_back(text[i]);
  }
  return out;
}

struct Node {
  bool attention = false;
  double weight = 1.0;  // attention weight
  std::string text;     // fragment text (attention == false)
  std::vector<Node> children;
};

Node Frag(std::string text) {
  Node n;
  n.text = Unescape(std::move(text));
  return n;
}

// A backtracking parser: the alternatives try the same bracket or quote at one position several
// times, so Parenthesized and Quoted remember their result per start position (packrat parsing;
// without it, time grows 4x per nesting level).
class Parser {
 public:
  explicit Parser(std::string_view s, int depth = 0) : s_(s), depth_(depth) {}

  // True when some bracket or quote nested deeper than kMaxNesting (the parse then failed there).
  bool too_deep() const { return too_deep_; }

  // prompt := ZeroOrMore(attention | quoted | parenthesized | free_word | White) StringEnd
  std::optional<std::vector<Node>> ParseTop() {
    std::vector<Node> out;
    size_t pos = 0;
    while (pos < s_.size()) {
      size_t p = pos;
      if (auto a = Attention(p)) {
        Append(out, std::move(*a));
        pos = p;
        continue;
      }
      p = pos;
      if (auto q = Quoted(p)) {
        Append(out, std::move(*q));
        pos = p;
        continue;
      }
      p = pos;
      if (auto r = Parenthesized(p)) {
        Append(out, std::move(*r));
        pos = p;
        continue;
      }
      if (!IsPyAsciiSpace(s_[pos])) {  // free_word: CharsNotIn(string.whitespace)
        size_t e = pos;
        while (e < s_.size() && !IsPyAsciiSpace(s_[e])) ++e;
        out.push_back(Frag(std::string(s_.substr(pos, e - pos))));
        pos = e;
        continue;
      }
      if (IsPpWhite(s_[pos])) {
        while (pos < s_.size() && IsPpWhite(s_[pos])) ++pos;
        continue;
      }
      return std::nullopt;  // \v or \f: nothing in the grammar matches (compel raises too)
    }
    return out;
  }

 private:
  static void Append(std::vector<Node>& out, std::vector<Node> nodes) {
    for (auto& n : nodes) out.push_back(std::move(n));
  }

  void SkipWhite(size_t& p) const {
    while (p < s_.size() && IsPpWhite(s_[p])) ++p;
  }

  bool Lit(size_t& p, std::string_view lit, bool skip_ws = true) const {
    size_t q = p;
    if (skip_ws) SkipWhite(q);
    if (s_.compare(q, lit.size(), lit) != 0) return false;
    p = q + lit.size();
    return true;
  }

  // non_syntax_word: Combine(OneOrMore(escaped symbol | [+-] not followed by white/syntax/end
  // | digits | one char not in whitespace+syntax)). No leading whitespace skip.
  std::optional<std::string> NonSyntaxWord(size_t& p) const {
    std::string text;
    size_t q = p;
    while (q < s_.size()) {
      const char c = s_[q];
      if (c == '\\' && q + 1 < s_.size() && IsSyntactic(s_[q + 1])) {
        text.append(s_.substr(q, 2));
        q += 2;
      } else if (c == '-' || c == '+') {
        if (q + 1 >= s_.size() || IsPpWhite(s_[q + 1]) || IsSyntactic(s_[q + 1])) break;
        text.push_back(c);
        q += 1;
      } else if (c >= '0' && c <= '9') {
        while (q < s_.size() && s_[q] >= '0' && s_[q] <= '9') text.push_back(s_[q++]);
      } else if (!IsPyAsciiSpace(c) && !IsSyntactic(c)) {
        text.push_back(c);
        q += 1;
      } else {
        break;
      }
    }
    if (text.empty()) return std::nullopt;
    p = q;
    return text;
  }

  // number: real [+-]?(\d+\.\d*|\.\d+) | -?\d+, as a double.
  std::optional<double> Number(size_t& p) const {
    size_t q = p;
    SkipWhite(q);
    const size_t start = q;
    size_t r = q;
    if (r < s_.size() && (s_[r] == '+' || s_[r] == '-')) ++r;
    const size_t int_begin = r;
    while (r < s_.size() && std::isdigit(static_cast<unsigned char>(s_[r]))) ++r;
    const bool has_int = r > int_begin;
    if (r < s_.size() && s_[r] == '.') {
      size_t f = r + 1;
      while (f < s_.size() && std::isdigit(static_cast<unsigned char>(s_[f]))) ++f;
      if (has_int || f > r + 1) {
        p = f;
        return std::strtod(std::string(s_.substr(start, f - start)).c_str(), nullptr);
      }
    }
    // integer form: optional '-' (not '+') then digits
    r = q;
    if (r < s_.size() && s_[r] == '-') ++r;
    const size_t d = r;
    while (r < s_.size() && std::isdigit(static_cast<unsigned char>(s_[r]))) ++r;
    if (r == d) return std::nullopt;
    p = r;
    return std::strtod(std::string(s_.substr(start, r - start)).c_str(), nullptr);
  }

  // Word('+') | Word('-') [| number]
  std::optional<double> WeightOp(size_t& p, bool allow_number) const {
    size_t q = p;
    SkipWhite(q);
    if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) {
      const char c = s_[q];
      size_t e = q;
      while (e < s_.size() && s_[e] == c) ++e;
      p = e;
      return std::pow(c == '+' ? kPlusBase : kMinusBase, static_cast<double>(e - q));
    }
    if (!allow_number) return std::nullopt;
    return Number(p);
  }

  bool NextIsWhite(size_t p) const { return p < s_.size() && IsPpWhite(s_[p]); }

  static Node MakeAttention(double weight, std::vector<Node> children) {
    Node n;
    n.attention = true;
    n.weight = weight;
    n.children = std::move(children);
    return n;
  }

  // attention := target '.attend' '(' weight ')' | (quoted|paren) !White weight
  //            | non_syntax_word !White ('+'+ | '-'+)
  std::optional<std::vector<Node>> Attention(size_t& p) {
    {  // explicit
      size_t q = p;
      if (auto target = OperatorTarget(q)) {
        if (Lit(q, ".attend") && Lit(q, "(")) {
          if (auto w = WeightOp(q, true)) {
            if (Lit(q, ")")) {
              p = q;
              return std::vector<Node>{MakeAttention(*w, std::move(*target))};
            }
          }
        }
      }
    }
    {  // implicit on quoted / parenthesized
      size_t q = p;
      auto target = Quoted(q);
      if (!target) {
        q = p;
        target = Parenthesized(q);
      }
      if (target && !NextIsWhite(q)) {
        if (auto w = WeightOp(q, true)) {
          p = q;
          return std::vector<Node>{MakeAttention(*w, std::move(*target))};
        }
      }
    }
    {  // implicit on a bare word
      size_t q = p;
      if (auto word = NonSyntaxWord(q)) {
        if (!NextIsWhite(q)) {
          if (auto w = WeightOp(q, false)) {
            p = q;
            return std::vector<Node>{MakeAttention(*w, {Frag(*word)})};
          }
        }
      }
    }
    return std::nullopt;
  }

  // quoted | parenthesized | non_syntax_word
  std::optional<std::vector<Node>> OperatorTarget(size_t& p) {
    size_t q = p;
    if (auto r = Quoted(q)) {
      p = q;
      return r;
    }
    q = p;
    if (auto r = Parenthesized(q)) {
      p = q;
      return r;
    }
    q = p;
    if (auto w = NonSyntaxWord(q)) {
      p = q;
      return std::vector<Node>{Frag(*w)};
    }
    return std::nullopt;
  }

  // ZeroOrMore(attention | parenthesized | quoted | non_syntax_word | ',' | '.')
  std::vector<Node> FragmentIncludingCommas(size_t& p) {
    std::vector<Node> out;
    while (true) {
      size_t q = p;
      SkipWhite(q);
      if (q >= s_.size()) {
        break;
      }
      size_t r = q;
      if (auto a = Attention(r)) {
        Append(out, std::move(*a));
        p = r;
        continue;
      }
      r = q;
      if (auto a = Parenthesized(r)) {
        Append(out, std::move(*a));
        p = r;
        continue;
      }
      r = q;
      if (auto a = Quoted(r)) {
        Append(out, std::move(*a));
        p = r;
        continue;
      }
      r = q;
      if (auto w = NonSyntaxWord(r)) {
        out.push_back(Frag(*w));
        p = r;
        continue;
      }
      if (s_[q] == ',' || s_[q] == '.') {
        out.push_back(Frag(std::string(1, s_[q])));
        p = q + 1;
        continue;
      }
      break;
    }
    return out;
  }

  // Where a memoized rule ended (npos: it failed) and what it produced.
  struct Memo {
    size_t end = std::string_view::npos;
    std::vector<Node> nodes;
  };

  static std::optional<std::vector<Node>> Recall(const Memo& m, size_t& p) {
    if (m.end == std::string_view::npos) return std::nullopt;
    p = m.end;
    return m.nodes;
  }

  std::optional<std::vector<Node>> Parenthesized(size_t& p) {
    if (auto it = paren_memo_.find(p); it != paren_memo_.end()) return Recall(it->second, p);
    Memo& memo = paren_memo_[p];
    size_t q = p;
    if (!Lit(q, "(")) return std::nullopt;
    if (depth_ >= kMaxNesting) {
      too_deep_ = true;
      return std::nullopt;
    }
    ++depth_;
    std::vector<Node> inner = FragmentIncludingCommas(q);
    --depth_;
    if (!Lit(q, ")")) return std::nullopt;
    memo.end = q;
    memo.nodes = inner;
    p = q;
    return inner;
  }

  // QuotedString('"', esc_quote='\"'), then its content parsed as fragments (fails if the
  // content does not parse to its end).
  std::optional<std::vector<Node>> Quoted(size_t& p) {
    if (auto it = quoted_memo_.find(p); it != quoted_memo_.end()) return Recall(it->second, p);
    Memo& memo = quoted_memo_[p];
    auto nodes = QuotedUncached(p);
    if (nodes) {
      memo.end = p;
      memo.nodes = *nodes;
    }
    return nodes;
  }

  std::optional<std::vector<Node>> QuotedUncached(size_t& p) {
    size_t q = p;
    SkipWhite(q);
    if (q >= s_.size() || s_[q] != '"') return std::nullopt;
    std::string content;
    size_t r = q + 1;
    bool closed = false;
    while (r < s_.size()) {
      if (s_[r] == '\\' && r + 1 < s_.size() && s_[r + 1] == '"') {
        content.push_back('"');
        r += 2;
      } else if (s_[r] == '"') {
        closed = true;
        ++r;
        break;
      } else {
        content.push_back(s_[r++]);
      }
    }
    if (!closed) return std::nullopt;
    bool blank = true;
    for (char c : content) blank = blank && IsPyAsciiSpace(c);
    if (blank) {
      p = r;
      return std::vector<Node>{Frag("")};
    }
    std::string escaped;
    for (char c : content) {
      if (c == '"') escaped.push_back('\\');
      escaped.push_back(c);
    }
    if (depth_ >= kMaxNesting) {
      too_deep_ = true;
      return std::nullopt;
    }
    Parser sub(escaped, depth_ + 1);
    size_t sp = 0;
    std::vector<Node> nodes = sub.FragmentIncludingCommas(sp);
    too_deep_ = too_deep_ || sub.too_deep_;
    sub.SkipWhite(sp);
    if (sp != escaped.size()) return std::nullopt;
    p = r;
    return nodes;
  }

  std::string_view s_;
  int depth_ = 0;  // brackets and quotes around the current position (sub-parsers included)
  bool too_deep_ = false;
  std::unordered_map<size_t, Memo> paren_memo_;
  std::unordered_map<size_t, Memo> quoted_memo_;
};

void Flatten(const std::vector<Node>& nodes, double scale, std::vector<PromptFragment>& out) {
  for (const Node& n : nodes) {
    if (n.attention) {
      Flatten(n.children, scale * n.weight, out);
    } else {
      out.push_back({Unescape(n.text), 1.0 * scale});
    }
  }
}

// re.sub(r',(\S)', r', \1', prompt)
std::string SpaceAfterCommas(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  const auto* b = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  int32_t i = 0;
  while (i < n) {
    if (s[static_cast<size_t>(i)] == ',' && i + 1 < n) {
      int32_t j = i + 1;
      UChar32 c;
      U8_NEXT(b, j, n, c);
      if (c >= 0 && !IsPyUnicodeSpace(c)) {
        out.append(", ");
        out.append(s.substr(static_cast<size_t>(i + 1), static_cast<size_t>(j - i - 1)));
        i = j;
        continue;
      }
    }
    out.push_back(s[static_cast<size_t>(i)]);
    ++i;
  }
  return out;
}

bool IsBlank(std::string_view s) {
  const auto* b = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  int32_t i = 0;
  while (i < n) {
    UChar32 c;
    U8_NEXT(b, i, n, c);
    if (c < 0 || !IsPyUnicodeSpace(c)) return false;
  }
  return true;
}

}  // namespace

core::Result<std::vector<PromptFragment>> ParsePrompt(std::string_view prompt) {
  for (std::string_view op : {".and(", ".add(", ".blend(", ".swap(", "withLora(", "useLora("}) {
    if (prompt.find(op) != std::string_view::npos) {
      return core::Status(core::Code::kUnimplemented,
                          "prompt uses compel's '" + std::string(op) +
                              "...)' operator, which is not supported: use plain text with "
                              "weights such as (words)1.2, word+ or word-");
    }
  }
  const std::string rewritten = SpaceAfterCommas(prompt);
  if (IsBlank(rewritten)) return std::vector<PromptFragment>{{"", 1.0}};
  Parser parser(rewritten);
  auto nodes = parser.ParseTop();
  if (parser.too_deep()) {
    return core::InvalidArgument("the prompt nests parentheses or quotes more than " +
                                 std::to_string(kMaxNesting) + " levels deep: flatten it");
  }
  if (!nodes) {
    return core::InvalidArgument(
        "cannot parse the prompt's weight syntax (vertical tab or form feed outside quotes?): "
        "remove control characters from the prompt");
  }
  std::vector<PromptFragment> flat;
  Flatten(*nodes, 1.0, flat);
  // fuse_fragments: join neighbours of equal weight with a space.
  std::vector<PromptFragment> fused;
  for (auto& f : flat) {
    if (!fused.empty() && fused.back().weight == f.weight) {
      fused.back().text = Unescape(fused.back().text + " " + f.text);
    } else {
      fused.push_back(std::move(f));
    }
  }
  if (fused.empty()) {
    return core::InvalidArgument("the prompt has no text after parsing its weight syntax");
  }
  return fused;
}

}  // namespace sdxl::sdxl
