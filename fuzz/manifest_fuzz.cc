// libFuzzer target: ParseManifest over arbitrary text. Accepted manifests must serialize and
// parse back to the same serialization (the JSON form is canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "weights/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdxl::weights;
  auto m = ParseManifest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!m.ok()) return 0;
  const std::string text = ManifestToJson(*m);
  auto back = ParseManifest(text);
  if (!back.ok() || ManifestToJson(*back) != text) std::abort();
  for (const FileEntry& e : m->files) {
    if (e.num_chunks() != NumChunks(e.size, e.chunk_size)) std::abort();
  }
  return 0;
}
