#include "sdxl/aspect_ratio.h"

#include <algorithm>
#include <array>

namespace sdxl::sdxl {
namespace {
struct Entry {
  std::string_view name;
  int width, height;
};
constexpr std::array<Entry, 11> kRatios = {{{"1:1", 1024, 1024},
                                            {"16:9", 1408, 832},
                                            {"21:9", 1536, 640},
                                            {"3:2", 1216, 832},
                                            {"2:3", 832, 1216},
                                            {"4:5", 896, 1088},
                                            {"5:4", 1088, 896},
                                            {"9:16", 768, 1344},
                                            {"9:21", 640, 1536},
                                            {"4:3", 800, 600},
                                            {"3:4", 600, 800}}};
}  // namespace

std::vector<std::string> AspectRatioNames() {
  std::vector<std::string> out;
  for (const auto& e : kRatios) out.emplace_back(e.name);
  return out;
}

core::Result<ImageSize> SizeForAspectRatio(std::string_view ratio, int long_side, int multiple) {
  for (const auto& e : kRatios) {
    if (e.name != ratio) continue;
    const double scale = static_cast<double>(long_side) / std::max(e.width, e.height);
    const int m = std::max(1, multiple);
    auto fit = [&](int v) { return std::max(m, static_cast<int>(v * scale) / m * m); };
    return ImageSize{fit(e.width), fit(e.height)};
  }
  std::string names;
  for (const auto& e : kRatios) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return core::InvalidArgument("unknown aspect ratio \"" + std::string(ratio) + "\"; use one of " +
                               names);
}

}  // namespace sdxl::sdxl
