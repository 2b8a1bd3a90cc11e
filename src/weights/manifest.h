#pragma once
// The model manifest, `sdxl-tigris-manifest.json`, stored next to the weights under MODEL_PATH.
//
// It describes a prepared pipeline well enough that a loader can start every ranged GET at once,
// with no header round trips, and verify each range as it lands:
//   - format version, source repo + resolved commit, the recipe (a JSON object such as
//     {"scheduler": "lightning", "steps": 4, "guidance": 0, "dtype": "bf16"});
//   - for every file: relative path, size, SHA-256, chunk size and the XXH3-64 of each fixed-size
//     chunk (the last one may be short; an empty file has no chunks);
//   - for each .safetensors file: the header length and the tensor index (name, dtype, shape,
//     data offsets relative to the data section), validated like a parsed header.
//
// Manifest and FileEntry are plain values (thread-safe to read). Parsing is strict: unknown
// versions, missing or mistyped fields, bad hashes, chunk counts that do not match the size, or
// tensor indexes that do not tile the file are rejected with DataLoss.
//
// JSON shape (format_version 1):
// {"format_version": 1, "source": {"repo": "...", "revision": "<commit>"}, "recipe": {...},
//  "files": [{"path": "unet/diffusion_pytorch_model.safetensors", "size": 123,
//             "sha256": "<64 hex>", "chunk_size": 8388608, "chunk_xxh3": ["<16 hex>", ...],
//             "safetensors": {"header_size": 1234, "metadata": {...},
//                             "tensors": [{"name": "...", "dtype": "BF16", "shape": [..],
//                                          "data_offsets": [b, e]}, ...]}}, ...]}

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_range.h"
#include "core/status.h"
#include "weights/safetensors.h"

namespace sdxl::weights {

inline constexpr int kManifestFormatVersion = 1;
inline constexpr std::string_view kManifestFileName = "sdxl-tigris-manifest.json";
inline constexpr std::uint64_t kDefaultManifestChunkSize = 8ull << 20;  // 8 MiB

struct FileEntry {
  std::string path;  // relative, '/'-separated, no "." / ".." components
  std::uint64_t size = 0;
  std::string sha256;  // 64 lowercase hex digits
  std::uint64_t chunk_size = kDefaultManifestChunkSize;
  std::vector<std::uint64_t> chunk_xxh3;  // one per chunk: ceil(size / chunk_size)
  // Present for *.safetensors files.
  std::optional<SafetensorsHeader> safetensors;

  std::uint64_t num_chunks() const { return chunk_xxh3.size(); }
  // Byte range of chunk `index` (must be < num_chunks()).
  core::ByteRange ChunkRange(std::uint64_t index) const;
};

struct Manifest {
  int format_version = kManifestFormatVersion;
  std::string source_repo;      // e.g. "ByteDance/SDXL-Lightning" or a local path
  std::string source_revision;  // resolved commit (or "" for local sources)
  nlohmann::json recipe = nlohmann::json::object();
  std::vector<FileEntry> files;  // sorted by path, unique

  const FileEntry* Find(std::string_view path) const;
  std::uint64_t total_bytes() const;
};

// True for a relative, '/'-separated path with no empty, "." or ".." components, no leading '/',
// backslash or NUL: safe to join under a local directory (ParseManifest enforces it).
bool IsSafeManifestPath(std::string_view path);

// Number of chunks for a file of `size` bytes.
std::uint64_t NumChunks(std::uint64_t size, std::uint64_t chunk_size);

// Builds the entry for a local file in one read pass (SHA-256 and per-chunk XXH3 together); for
// `*.safetensors` also parses and validates the header. `relative_path` is what goes into the
// manifest. NotFound / DataLoss / InvalidArgument on errors.
core::Result<FileEntry> BuildFileEntry(const std::filesystem::path& local_file,
                                       std::string relative_path,
                                       std::uint64_t chunk_size = kDefaultManifestChunkSize);

// Builds entries for every regular file under `root` (recursively, sorted by path, skipping the
// manifest file itself and hidden files/dirs such as `.cache`).
core::Result<std::vector<FileEntry>> BuildFileEntries(
    const std::filesystem::path& root, std::uint64_t chunk_size = kDefaultManifestChunkSize);

// Serializes to pretty JSON (2-space indent, trailing newline). Deterministic.
std::string ManifestToJson(const Manifest& manifest);
// Strict parse + validation.
core::Result<Manifest> ParseManifest(std::string_view json);
// Reads and parses a manifest file.
core::Result<Manifest> ReadManifestFile(const std::filesystem::path& path);
// Writes atomically (temp + rename).
core::Status WriteManifestFile(const Manifest& manifest, const std::filesystem::path& path);

// DataLoss unless `bytes` is exactly chunk `index` of `entry` (size and XXH3-64 match).
core::Status VerifyChunk(const FileEntry& entry, std::uint64_t index,
                         std::span<const std::byte> bytes);

// Full check of a local file against its entry: size, every chunk hash and SHA-256.
core::Status VerifyFile(const FileEntry& entry, const std::filesystem::path& local_file);

}  // namespace sdxl::weights
