#pragma once
// The seed template's aspect ratios (1:1, 16:9, 21:9, 3:2, 2:3, 4:5, 5:4, 9:16, 9:21, 4:3, 3:4).
//
// Each named ratio has a base size (e.g. 16:9 -> 1408x832); it is scaled so the longer side is
// `long_side` (1024 for SDXL) and each side rounded down to a multiple of `multiple` (at least
// `multiple`); the template rounds to 32. Pure functions, thread-safe. For sizes that fit a loaded
// pipeline see sdxl/request_shaping.h.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::sdxl {

struct ImageSize {
  int width = 0;
  int height = 0;
};

// InvalidArgument (listing the accepted names) for an unknown ratio.
[[nodiscard]] core::Result<ImageSize> SizeForAspectRatio(std::string_view ratio,
                                                         int long_side = 1024, int multiple = 32);
// The accepted names, in the template's order.
std::vector<std::string> AspectRatioNames();

}  // namespace sdxl::sdxl
