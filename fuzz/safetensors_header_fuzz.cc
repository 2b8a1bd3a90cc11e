// libFuzzer target: ParseSafetensorsHeader over arbitrary bytes (the input is the whole file).
// Beyond "no crash, no sanitizer report", every accepted header must satisfy the format's
// invariants, and re-serializing it must give a header that parses back to the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "weights/safetensors.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdxl::weights;
  const auto bytes = std::as_bytes(std::span(data, size));
  auto header = ParseSafetensorsHeader(bytes, size);
  if (!header.ok()) {
    Check(!header.status().message().empty());
    return 0;
  }
  const SafetensorsHeader& h = *header;
  Check(h.file_size() == size);
  Check(h.header_size() <= kMaxSafetensorsHeaderSize);
  std::uint64_t expected = 0;
  for (const TensorInfo& t : h.tensors()) {
    Check(t.data_begin == expected);
    Check(t.data_end >= t.data_begin);
    auto n = ByteSizeFor(t.dtype, t.num_elements);
    Check(n.ok() && *n == t.byte_size());
    Check(h.Find(t.name) == &t);
    expected = t.data_end;
  }
  Check(expected == h.data_size());

  // Round trip: serialize, then parse the new header against the same data size.
  auto again = SerializeSafetensorsHeader(h.tensors(), h.metadata());
  if (!again.ok()) return 0;  // e.g. a tensor named like the metadata key cannot be written back
  auto reparsed =
      ParseSafetensorsHeader(std::as_bytes(std::span(*again)), again->size() + h.data_size());
  Check(reparsed.ok());
  Check(reparsed->tensors() == h.tensors());
  Check(reparsed->metadata() == h.metadata());
  return 0;
}
