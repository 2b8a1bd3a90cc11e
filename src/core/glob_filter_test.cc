#include "core/glob_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace sdxl::core {
namespace {

// Every expectation here is what Python's fnmatch.fnmatchcase (which aws s3 uses) answers.
struct Case {
  const char* pattern;
  const char* text;
  bool match;
};

TEST(GlobMatch, AgreesWithPythonFnmatch) {
  const std::vector<Case> cases = {
      {"*.txt", "a.txt", true},
      {"*.txt", "dir/sub/a.txt", true},  // '*' crosses '/'
      {"*.txt", "a.txt.bak", false},
      {"dir/*", "dir/a/b", true},
      {"?.bin", "a.bin", true},
      {"?.bin", "ab.bin", false},
      {"?", "/", true},
      {"[abc].txt", "b.txt", true},
      {"[abc].txt", "d.txt", false},
      {"[!abc].txt", "d.txt", true},
      {"[!abc].txt", "a.txt", false},
      {"[a-c]x", "bx", true},
      {"[a-c]x", "dx", false},
      {"[a-]", "-", true},
      {"[]]", "]", true},
      {"[!]]", "a", true},
      {"[!]]", "]", false},
      {"[!a]", "/", true},
      {"[", "[", true},       // no closing ']': a literal '['
      {"a[b", "a[b", true},   // the same inside a pattern
      {"[z-a]", "m", false},  // a reversed range matches nothing
      {"*", "", true},
      {"", "", true},
      {"", "a", false},
      {"a*b*c", "aXbYc", true},
      {"a*b*c", "aXbYcZ", false},
      {"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
      {"\\*", "\\x", true},  // no escape character: '\' is a literal
      {"**/x", "a/b/x", true},
      {"**/x", "x", false},
      {"*/x", "x", false},
      {"my file*", "my file (1).txt", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.text), c.match)
        << "pattern \"" << c.pattern << "\" text \"" << c.text << "\"";
  }
}

TEST(GlobMatch, CharactersAreUtf8CodePoints) {
  EXPECT_TRUE(GlobMatch("?", "\xC3\xA9"));            // "é" is one character
  EXPECT_FALSE(GlobMatch("??", "\xC3\xA9"));          // not two
  EXPECT_TRUE(GlobMatch("caf?", "caf\xC3\xA9"));      // "café"
  EXPECT_TRUE(GlobMatch("[\xC3\xA9]", "\xC3\xA9"));   // a class member "é"
  EXPECT_FALSE(GlobMatch("[\xC3\xA9]", "\xC3\xA8"));  // "è" is not in it
  EXPECT_TRUE(GlobMatch("*\xC3\xBC*",
                        "dir/\xC3\xBC"
                        "ber.txt"));
  EXPECT_TRUE(GlobMatch("?", "\xF0\x9F\x98\x80"));  // a 4-byte emoji
  // Invalid UTF-8 bytes match only themselves, one byte each.
  EXPECT_TRUE(GlobMatch("?", "\xFF"));
  EXPECT_TRUE(GlobMatch("a\xFF", "a\xFF"));
  EXPECT_FALSE(GlobMatch("a\xFF", "a\xFE"));
  EXPECT_TRUE(GlobMatch("??",
                        "\xC3"
                        "a"));  // a cut sequence: two characters
}

TEST(GlobMatch, LongStarRunsStayFast) {
  const std::string text(5000, 'a');
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*a*a*a*a*", text));
}

TEST(PathFilter, EverythingIsIncludedByDefault) {
  PathFilter f;
  EXPECT_TRUE(f.empty());
  EXPECT_TRUE(f.Includes("a.txt"));
  EXPECT_TRUE(f.Includes("deep/dir/b.bin"));
}

TEST(PathFilter, LaterRulesTakePrecedence) {
  PathFilter only_json;  // --exclude '*' --include '*.json'
  only_json.Add(PathFilter::Rule::kExclude, "*");
  only_json.Add(PathFilter::Rule::kInclude, "*.json");
  EXPECT_TRUE(only_json.Includes("config.json"));
  EXPECT_TRUE(only_json.Includes("unet/config.json"));
  EXPECT_FALSE(only_json.Includes("unet/w.bin"));

  PathFilter nothing;  // --include '*.json' --exclude '*': the exclude comes last and wins
  nothing.Add(PathFilter::Rule::kInclude, "*.json");
  nothing.Add(PathFilter::Rule::kExclude, "*");
  EXPECT_FALSE(nothing.Includes("config.json"));
  EXPECT_FALSE(nothing.Includes("unet/w.bin"));
  EXPECT_EQ(nothing.size(), 2u);
}

TEST(PathFilter, ExcludeThenIncludeThenExclude) {
  // aws s3 docs example shape: --exclude "*" --include "*.txt" --exclude "secret/*"
  PathFilter f;
  f.Add(PathFilter::Rule::kExclude, "*");
  f.Add(PathFilter::Rule::kInclude, "*.txt");
  f.Add(PathFilter::Rule::kExclude, "secret/*");
  EXPECT_TRUE(f.Includes("a.txt"));
  EXPECT_TRUE(f.Includes("public/b.txt"));
  EXPECT_FALSE(f.Includes("secret/c.txt"));
  EXPECT_FALSE(f.Includes("d.bin"));
}

TEST(PathFilter, PatternsMatchTheWholeRelativePath) {
  PathFilter f;
  f.Add(PathFilter::Rule::kExclude, "unet/*");
  EXPECT_FALSE(f.Includes("unet/w.bin"));
  EXPECT_TRUE(f.Includes("vae/unet/w.bin"));  // anchored at the start, not a substring
  EXPECT_TRUE(f.Includes("unet"));
  PathFilter names;
  names.Add(PathFilter::Rule::kExclude, "a.txt");
  EXPECT_FALSE(names.Includes("a.txt"));
  EXPECT_TRUE(names.Includes("sub/a.txt"));  // aws: "a.txt" names the top-level file only
}

}  // namespace
}  // namespace sdxl::core
