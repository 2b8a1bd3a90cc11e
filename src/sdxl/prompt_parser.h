#pragma once
// Compel prompt syntax (compel 2.5.1, `compel.prompt_parser`), parsed into weighted fragments.
//
// Supported: `(words)1.2` explicit weights, `word+` / `word-` (x1.1 / x0.9 per sign, `++`, `--`),
// `(words)+`, nesting (weights multiply), escaped `\( \) \+ \- \" \,` etc., and a leading
// `.and()`/`.blend()`-free plain prompt. Like compel, a space is inserted after every comma that
// is followed by a non-space character, adjacent fragments with equal weight are fused with " ",
// and an empty prompt gives one fragment ("", 1.0). Conjunctions (`.and()`), blends
// (`.blend()`), `.swap()` and `withLora()` are not supported: ParsePrompt returns an error naming
// them.
//
// Pure functions, no torch: thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::sdxl {

struct PromptFragment {
  std::string text;
  double weight = 1.0;  // as compel computes it (double); tensors use float32
  bool operator==(const PromptFragment&) const = default;
};

// Parses `prompt` into fragments as compel's parser + its fragment fusing do.
core::Result<std::vector<PromptFragment>> ParsePrompt(std::string_view prompt);

}  // namespace sdxl::sdxl
