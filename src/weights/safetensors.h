#pragma once
// safetensors: strict header parsing, an mmap-backed reader and a streaming writer.
//
// Format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of UTF-8 JSON
// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`,
// optionally padded with whitespace), then the data section. Offsets are relative to the start of
// the data section (absolute file offset = 8 + N + begin).
//
// ParseSafetensorsHeader is a pure function: it never reads past the bytes it is given, rejects
// every malformed input with a DataLoss Status (never throws or crashes), and checks that the
// tensors tile the data section exactly (sorted by offset, contiguous, no overlap, no gaps).
//
// Thread-safety: SafetensorsHeader and an open SafetensorsFile are immutable and may be read from
// any number of threads. SafetensorsWriter is single-threaded.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "weights/dtype.h"

namespace sdxl::weights {

// Largest header accepted (same cap as the reference implementation, 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeaderSize = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::uint64_t> shape;
  std::uint64_t data_begin = 0;  // relative to the data section
  std::uint64_t data_end = 0;    // exclusive
  std::uint64_t num_elements = 0;

  std::uint64_t byte_size() const { return data_end - data_begin; }
  bool operator==(const TensorInfo&) const = default;
};

class SafetensorsHeader {
 public:
  // N: the JSON header length (without the 8-byte prefix).
  std::uint64_t header_size() const { return header_size_; }
  // Absolute file offset of the data section: 8 + N.
  std::uint64_t data_offset() const { return 8 + header_size_; }
  // Byte length of the data section (end of the last tensor).
  std::uint64_t data_size() const { return data_size_; }
  // Total file size: data_offset() + data_size().
  std::uint64_t file_size() const { return data_offset() + data_size_; }

  // Tensors sorted by (data_begin, data_end, name).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // `__metadata__` (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when no tensor has that name.
  const TensorInfo* Find(std::string_view name) const;

  // Builds a header from already-known pieces (e.g. a manifest's tensor index), running the same
  // validation as parsing: dtype/shape/size agreement and exact tiling of [0, data_size).
  static core::Result<SafetensorsHeader> FromTensors(std::uint64_t header_size,
                                                     std::vector<TensorInfo> tensors,
                                                     std::map<std::string, std::string> metadata);

 private:
  friend core::Result<SafetensorsHeader> ParseSafetensorsHeader(std::span<const std::byte>,
                                                                std::uint64_t);
  std::uint64_t header_size_ = 0;
  std::uint64_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::unordered_map<std::string, size_t> index_;
};

// Reads N from the first 8 bytes. DataLoss when fewer than 8 bytes or N exceeds the cap.
core::Result<std::uint64_t> ReadSafetensorsHeaderSize(std::span<const std::byte> prefix);

// Parses and validates a header. `prefix` holds the first bytes of the file: at least 8 + N (more
// is fine and ignored). `file_size` is the total file size; it must equal 8 + N + the data size
// implied by the tensors (no trailing bytes, no truncation).
core::Result<SafetensorsHeader> ParseSafetensorsHeader(std::span<const std::byte> prefix,
                                                       std::uint64_t file_size);

// A safetensors file mapped read-only into memory. Move-only; unmaps on destruction. Spans it
// returns are valid while the SafetensorsFile lives.
class SafetensorsFile {
 public:
  static core::Result<SafetensorsFile> Open(const std::filesystem::path& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const SafetensorsHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  // The whole file.
  std::span<const std::byte> bytes() const { return {base_, size_}; }
  // The bytes of one tensor (`info` must come from this file's header).
  std::span<const std::byte> Data(const TensorInfo& info) const;
  // The bytes of the named tensor; NotFound when absent.
  core::Result<std::span<const std::byte>> Data(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  const std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  SafetensorsHeader header_;
};

// What to write for one tensor: the writer computes the offsets.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::uint64_t> shape;
};

struct SafetensorsWriterOptions {
  // true: order tensors like the reference writer (dtype alignment descending, then name), which
  // gives byte-identical output to Python's `save_file` for the same tensors and metadata.
  // false: keep the caller's order.
  bool reference_order = true;
  // Write through this buffer size (bounded memory regardless of file size).
  std::size_t buffer_size = 4 << 20;
  // fsync the file and its directory before the rename in Finish().
  bool sync = true;
};

// Writes a safetensors file atomically: header first, then tensor data streamed in layout order
// (see layout()), into a core::AtomicFileWriter temporary next to `path` (the folder must exist);
// Finish() renames it onto `path`. Destroying an unfinished writer removes the temporary file, so
// a failed write never leaves a partial file.
class SafetensorsWriter {
 public:
  static core::Result<SafetensorsWriter> Create(const std::filesystem::path& path,
                                                std::vector<TensorSpec> tensors,
                                                std::map<std::string, std::string> metadata = {},
                                                SafetensorsWriterOptions options = {});
  SafetensorsWriter(SafetensorsWriter&&) noexcept;
  SafetensorsWriter& operator=(SafetensorsWriter&&) noexcept;
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;
  ~SafetensorsWriter();

  // The final header: tensors in the order their data must be written.
  const SafetensorsHeader& layout() const;
  // The exact header bytes written (8-byte length + JSON padded with spaces to a multiple of 8).
  const std::string& header_bytes() const;

  // Appends bytes of tensor `name`, which must be the next tensor in layout() order (or the one
  // in progress); a tensor may be written in several pieces. InvalidArgument on order or size
  // errors.
  core::Status Write(std::string_view name, std::span<const std::byte> bytes);
  // Flushes, checks every tensor was written in full, syncs and renames onto the final path.
  core::Status Finish();

 private:
  struct Impl;
  explicit SafetensorsWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Serializes a header to the bytes a file starts with (length prefix + padded JSON). The tensors'
// order in the JSON follows `header.tensors()`; `__metadata__` comes first when non-empty.
core::Result<std::string> SerializeSafetensorsHeader(
    const std::vector<TensorInfo>& tensors, const std::map<std::string, std::string>& metadata);

}  // namespace sdxl::weights
