#include "sdxl/prompt_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace sdxl::sdxl {
namespace {

std::vector<PromptFragment> Parse(std::string_view p) {
  auto r = ParsePrompt(p);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : std::vector<PromptFragment>{};
}

// Expected values were produced by compel 2.5.1's PromptParser.
TEST(PromptParserTest, PlainTextIsOneFragment) {
  EXPECT_EQ(Parse("a cat"), (std::vector<PromptFragment>{{"a cat", 1.0}}));
  EXPECT_EQ(Parse(""), (std::vector<PromptFragment>{{"", 1.0}}));
  EXPECT_EQ(Parse("   "), (std::vector<PromptFragment>{{"", 1.0}}));
  EXPECT_EQ(Parse("a\nb"), (std::vector<PromptFragment>{{"a b", 1.0}}));
}

TEST(PromptParserTest, ExplicitAndNestedWeights) {
  EXPECT_EQ(Parse("(a   cat)1.2"), (std::vector<PromptFragment>{{"a cat", 1.2}}));
  EXPECT_EQ(Parse("a (cat)1.2 dog"),
            (std::vector<PromptFragment>{{"a", 1.0}, {"cat", 1.2}, {"dog", 1.0}}));
  EXPECT_EQ(Parse("(a (b)1.3)1.1"), (std::vector<PromptFragment>{{"a", 1.1}, {"b", 1.1 * 1.3}}));
  EXPECT_EQ(Parse("(a).5"), (std::vector<PromptFragment>{{"a", 0.5}}));
  EXPECT_EQ(Parse("a.attend(2)"), (std::vector<PromptFragment>{{"a", 2.0}}));
}

TEST(PromptParserTest, PlusMinus) {
  EXPECT_EQ(Parse("cat+ dog--"), (std::vector<PromptFragment>{{"cat", 1.1}, {"dog", 0.81}}));
  EXPECT_EQ(Parse("x (y)+++ z"),
            (std::vector<PromptFragment>{{"x", 1.0}, {"y", 1.3310000000000004}, {"z", 1.0}}));
  EXPECT_EQ(Parse("(a)-0.5"), (std::vector<PromptFragment>{{"a", 0.9}, {"0.5", 1.0}}));
  EXPECT_EQ(Parse("red-haired"), (std::vector<PromptFragment>{{"red-haired", 1.0}}));
  EXPECT_EQ(Parse("cat +"), (std::vector<PromptFragment>{{"cat +", 1.0}}));
}

TEST(PromptParserTest, CompelQuirks) {
  EXPECT_EQ(Parse("cat(dog)1.2"), (std::vector<PromptFragment>{{"cat(dog)1.2", 1.0}}));
  EXPECT_EQ(Parse("(cat) 1.2"), (std::vector<PromptFragment>{{"cat 1.2", 1.0}}));
  EXPECT_EQ(Parse("a, b,c"), (std::vector<PromptFragment>{{"a, b, c", 1.0}}));
  EXPECT_EQ(Parse("(a, b. c)0.5"), (std::vector<PromptFragment>{{"a , b . c", 0.5}}));
  EXPECT_EQ(Parse("(a)1e3"), (std::vector<PromptFragment>{{"a e3", 1.0}}));
  EXPECT_EQ(Parse("\\(cat\\) dog"), (std::vector<PromptFragment>{{"(cat) dog", 1.0}}));
  EXPECT_EQ(Parse("a \\, b"), (std::vector<PromptFragment>{{"a \\, b", 1.0}}));
  EXPECT_EQ(Parse("\"a cat\"1.5"), (std::vector<PromptFragment>{{"a cat", 1.5}}));
  EXPECT_EQ(Parse("a, (b)1.2, c"),
            (std::vector<PromptFragment>{{"a,", 1.0}, {"b", 1.2}, {", c", 1.0}}));
  EXPECT_EQ(Parse("(x"), (std::vector<PromptFragment>{{"(x", 1.0}}));
}

TEST(PromptParserTest, UnsupportedOperatorsAreErrors) {
  auto r = ParsePrompt("(\"a\", \"b\").blend(1, 0.5)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kUnimplemented);
  EXPECT_NE(r.status().message().find(".blend("), std::string::npos);
  EXPECT_FALSE(ParsePrompt("cat.swap(dog)").ok());
}

// Found by fuzz/prompt_fuzz.cc: the backtracking parser retried each bracket ~4 times per
// nesting level, so "((((((((((((((x))))))))))))))" (30 bytes) took seconds and 14 more levels
// would take days. Brackets are now parsed once per position; past 64 levels the prompt is refused.
TEST(PromptParserTest, DeepNestingIsLinearAndBounded) {
  const std::string deep30 = std::string(30, '(') + "x" + std::string(30, ')');
  EXPECT_EQ(Parse(deep30), (std::vector<PromptFragment>{{"x", 1.0}}));
  std::string weighted = "x";
  double weight = 1.0;
  for (int i = 0; i < 40; ++i) {
    weighted = "(" + weighted + ")1.1";
    weight *= 1.1;
  }
  const auto frags = Parse(weighted);
  ASSERT_EQ(frags.size(), 1u);
  EXPECT_EQ(frags[0].text, "x");
  EXPECT_DOUBLE_EQ(frags[0].weight, weight);
  EXPECT_EQ(Parse(std::string(64, '(') + "x" + std::string(64, ')')),
            (std::vector<PromptFragment>{{"x", 1.0}}));

  auto too_deep = ParsePrompt(std::string(65, '(') + "x" + std::string(65, ')'));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(too_deep.status().message().find("64 levels"), std::string::npos);
  EXPECT_FALSE(ParsePrompt(std::string(5000, '(') + "x").ok());
}

}  // namespace
}  // namespace sdxl::sdxl
