#pragma once
// WeightSource: where a model's files come from while the engine loads it — the seam between
// the loader (storage side, torch-free) and the engine's module loader.
//
// The engine asks for a file's safetensors header, lays out where every tensor's bytes must land
// (its module parameters, already allocated on the target device and dtype), and then hands the
// source a sink. The source pushes every byte of the file into the sink exactly once, in pieces
// of any size and order, from any of its threads: while the bytes arrive from the network
// (PullWeightSource: straight from the download's receive buffers, the cache file is written
// beside), or read from a local folder (FolderWeightSource). No second copy of the model is
// held in memory and no file is read back to load it.
//
// Paths are the engine's view of the model: absolute paths under the model folder
// (dir / "unet" / "diffusion_pytorch_model.safetensors"); small files (configs, tokenizer files,
// shard indexes) are read from that folder as usual once WaitForComponent returns.
//
// Thread-safety: every method may be called from several threads at once (the engine loads
// components in parallel). Sinks must be thread-safe: the source calls them concurrently for
// disjoint pieces of the same file.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "core/status.h"
#include "weights/safetensors.h"

namespace sdxl::weights {

// Receives `bytes`, which are the file's bytes at [offset, offset + bytes.size()). A non-OK
// status stops the stream and is returned by Stream. The span is valid only during the call.
using WeightSink =
    std::function<core::Status(std::uint64_t offset, std::span<const std::byte> bytes)>;

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // Blocks until the small files of `component` ("" for top-level files such as
  // model_index.json, "unet", "vae", ...) are in place under the model folder, so that they can
  // be read, and the component's weight files are known (HasFile). Returns the error that stops
  // the source (a failed download, Cancel) instead.
  [[nodiscard]] virtual core::Status WaitForComponent(const std::string& component) = 0;

  // Whether the model has this file (its bytes may not have arrived yet). Call after
  // WaitForComponent of its component.
  virtual bool HasFile(const std::filesystem::path& path) = 0;

  // The safetensors header of a weights file, validated against the file size (from the model's
  // manifest, a ranged read or the file itself).
  [[nodiscard]] virtual core::Result<SafetensorsHeader> ReadHeader(
      const std::filesystem::path& path) = 0;

  // Pushes every byte of the file's data section (from header.data_offset() to the end) into
  // `sink` exactly once (header bytes may be delivered too; sinks ignore them) and returns when all
  // of them were delivered and the file passed the source's integrity checks (size; hashes when the
  // source has them). The first error — the sink's, the download's, a failed check, Cancel — is
  // returned; bytes delivered before it must then be discarded by the caller.
  [[nodiscard]] virtual core::Status Stream(const std::filesystem::path& path,
                                            const WeightSink& sink) = 0;

  // Stops the source: every current and later wait returns `status` (e.g. the engine failed to
  // load one component, so the others need not wait for their bytes).
  virtual void Cancel(const core::Status& status) = 0;
};

// Reads a folder already on local disk: the files as they are, no waiting. Stream hands out 16 MiB
// pieces from a few threads: a piece in the page cache straight from a mapping of the file (its
// pages dropped from the process once delivered), any other with O_DIRECT into the reader's own
// buffer, reused for its next pieces. So reading a model costs no resident memory beyond what the
// sink keeps, and a cold read does not fill the page cache: on a VM every fresh page also costs
// the host a fault, and the engine's parameters need all the fresh memory there is.
class FolderWeightSource : public WeightSource {
 public:
  // `threads`: readers per Stream call (pages fault in parallel, the sink runs on them).
  explicit FolderWeightSource(int threads = 4) : threads_(threads) {}

  core::Status WaitForComponent(const std::string& component) override;
  bool HasFile(const std::filesystem::path& path) override;
  core::Result<SafetensorsHeader> ReadHeader(const std::filesystem::path& path) override;
  core::Status Stream(const std::filesystem::path& path, const WeightSink& sink) override;
  void Cancel(const core::Status& status) override;

 private:
  int threads_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  core::Status cancel_status_;
};

// Reads and validates the safetensors header of a local file (8-byte length, JSON, size check).
core::Result<SafetensorsHeader> ReadSafetensorsHeaderFromFile(const std::filesystem::path& path);

// Streams [begin, end) of a local file into `sink` as FolderWeightSource::Stream does (pieces of
// at most 16 MiB, `threads` readers; cached pieces from a mapping, the others with O_DIRECT, or
// from the mapping too where the file system has no direct I/O). `stop` (optional) is called
// between pieces; a non-OK status it returns ends the stream with that status. Also used by
// sources that serve files already cached on disk.
core::Status StreamFileRange(const std::filesystem::path& path, std::uint64_t begin,
                             std::uint64_t end, const WeightSink& sink, int threads,
                             const std::function<core::Status()>& stop = nullptr);

}  // namespace sdxl::weights
