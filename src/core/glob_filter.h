#pragma once
// Glob patterns and the ordered --exclude/--include filter of the S3 commands (cp, rm, mv, sync),
// with aws s3's semantics:
//
// * A pattern is matched against a whole path relative to the command's source folder or prefix
//   ("unet/w.bin" for s3://b/models/x/unet/w.bin under s3://b/models/x), the way Python's
//   fnmatch matches: `*` any run of characters, `/` included; `?` exactly one character; `[abc]`,
//   `[a-z]` a class and `[!abc]` its complement; a `[` with no closing `]` is a literal `[`.
//   There is no escape character (aws has none either). Case-sensitive. Characters are UTF-8 code
//   points (`?` matches one "é"); bytes that are not valid UTF-8 match only themselves.
// * PathFilter: everything is included by default; the rules apply in the order given and the
//   last one that matches a path decides (`--exclude '*' --include '*.json'` keeps only JSON).
//
// Pure values: thread-safe to share once built, no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sdxl::core {

class GlobPattern {
 public:
  explicit GlobPattern(std::string_view pattern);

  // Whether the whole of `text` matches the pattern.
  bool Matches(std::string_view text) const;
  const std::string& text() const { return text_; }

 private:
  struct Token {
    enum class Kind : std::uint8_t { kLiteral, kAny, kStar, kClass } kind = Kind::kLiteral;
    char32_t ch = 0;                                    // kLiteral
    bool negate = false;                                // kClass: [!...]
    std::vector<std::pair<char32_t, char32_t>> ranges;  // kClass: inclusive ranges
  };
  static bool TokenMatches(const Token& token, char32_t c);

  std::string text_;
  std::vector<Token> tokens_;
};

// Whether `text` matches `pattern` (GlobPattern(pattern).Matches(text)).
bool GlobMatch(std::string_view pattern, std::string_view text);

class PathFilter {
 public:
  enum class Rule : std::uint8_t { kExclude, kInclude };

  // Appends a rule; later rules take precedence over earlier ones.
  void Add(Rule rule, std::string_view pattern);
  // Whether `relative_path` is selected: the last matching rule decides; no match: included.
  bool Includes(std::string_view relative_path) const;
  bool empty() const { return rules_.empty(); }
  std::size_t size() const { return rules_.size(); }

 private:
  std::vector<std::pair<Rule, GlobPattern>> rules_;
};

}  // namespace sdxl::core
