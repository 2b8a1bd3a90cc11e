// libFuzzer target: compel prompt-weighting syntax (sdxl/prompt_parser.h), which comes straight
// from prediction requests. Beyond "no crash, no sanitizer report" (and no timeout: a backtracking
// parser must stay fast on nested brackets): an accepted prompt gives at least one fragment,
// neighbours never share a weight (compel fuses them), and a failure says why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sdxl/prompt_parser.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view prompt(reinterpret_cast<const char*>(data), size);
  auto fragments = sdxl::sdxl::ParsePrompt(prompt);
  if (!fragments.ok()) {
    Check(!fragments.status().message().empty());
    return 0;
  }
  Check(!fragments->empty());
  for (size_t i = 1; i < fragments->size(); ++i) {
    Check(!((*fragments)[i - 1].weight == (*fragments)[i].weight));
  }
  return 0;
}
