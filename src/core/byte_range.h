#pragma once
// ByteRange: a contiguous run of bytes in a file or object, as offset + length (the convention
// of HTTP Range reads and ObjectStore::GetRange). The one byte-range type of the project: the
// transfer engine's part planning (storage), the manifest's chunks (weights) and the loader use
// it. A plain value: thread-compatible.

#include <cstdint>

namespace sdxl::core {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  // One past the last byte.
  constexpr std::uint64_t end() const { return offset + length; }
  constexpr bool operator==(const ByteRange&) const = default;
};

}  // namespace sdxl::core
