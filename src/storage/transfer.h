#pragma once
// The parallel transfer engine: moves files between local disk and an ObjectStore as fast as the
// network allows, with bounded memory.
//
// Downloads split each object into ranges fetched by `concurrency` worker threads with ranged GETs
// (If-Match on the ETag), written in place into a preallocated temporary file next to the
// destination (direct I/O from an aligned staging buffer where the file system supports it, see
// range_file.h; buffered pwrite otherwise); a failed range is retried from its last
// received byte. When every range is in, the size is verified and the file is renamed to its final
// name, so a final name never holds a partial file. Uploads use one PUT for small files and
// parallel multipart uploads otherwise (aborted on failure or cancellation). The prefix/directory
// variants run many objects at once on the same workers.
// Thread-safe: each call is independent; options are read-only during the call.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_range.h"
#include "core/status.h"
#include "storage/object_store.h"

namespace sdxl::storage {

inline constexpr std::uint64_t kMiB = 1024 * 1024;

struct TransferOptions {
  // Multipart upload part size (raised to fit 10000 parts). Each upload worker holds one part in
  // memory, so this times `concurrency` bounds upload memory.
  std::uint64_t part_size = 16 * kMiB;
  // Download range size: one ranged GET each. Memory does not grow with it (ranges stream
  // through a 4 MiB staging buffer), and fewer requests cost less per byte: on the loopback
  // benchmark 64 MiB ranges took SeaweedFS ~6% less CPU per GiB than 16 MiB ones, and on a real
  // network each request pays a time to first byte.
  std::uint64_t range_size = 64 * kMiB;
  int concurrency = 16;                           // parallel requests
  std::uint64_t multipart_threshold = 16 * kMiB;  // uploads at or above use multipart
  int max_attempts = 5;  // per range/part; attempts that made progress do not count
  // Called from worker threads with byte deltas as data moves (often; keep it cheap).
  std::function<void(std::uint64_t bytes)> on_progress;
  // Total bytes of the whole transfer, reported once it is known (before data flows).
  std::function<void(std::uint64_t total_bytes)> on_total;
  const std::atomic<bool>* cancel = nullptr;  // set to stop: temp files and uploads are cleaned
  bool overwrite = true;                      // false: existing destination files are an error
  bool direct_io = true;  // downloads: write large files with O_DIRECT when the file system can
  // Downloads: called from a worker thread as soon as one object's file is complete under its
  // destination name (other objects may still be in flight), e.g. to verify it while the rest
  // arrives. A non-OK status fails the whole transfer; the file is the callee's by then (the
  // engine does not delete it). `file` is empty for an object received without a file (an empty
  // destination, or on_disk_full): every byte went through on_data and nothing is on disk.
  std::function<core::Status(const ObjectInfo& object, const std::filesystem::path& file)>
      on_downloaded;
  // Downloads: called (from a worker, once per object) when an object's file cannot be reserved
  // or written because the disk or a quota is full (`why` is ResourceExhausted). Return true to go
  // on receiving the object for on_data only (its temporary file is removed, on_downloaded gets
  // an empty path); false, or no callback, or no on_data, fails the transfer with `why`. Bytes
  // already handed to on_data are not handed out again.
  std::function<bool(const ObjectInfo& object, const core::Status& why)> on_disk_full;
  // Downloads: called from the worker with the bytes of `object` at [offset, offset + size) as
  // they are received, before they are written to the file: every byte exactly once (a retried
  // range resumes after the last byte handed out), in order within each range, ranges in
  // parallel. For consuming a download while it runs (the cold-start loader streams weights into
  // the engine from here). The span is valid during the call only. A non-OK status fails the
  // whole transfer.
  std::function<core::Status(const ObjectInfo& object, std::uint64_t offset,
                             std::span<const std::byte> bytes)>
      on_data;
};

struct TransferStats {
  std::uint64_t bytes = 0;
  std::uint64_t objects = 0;
  double seconds = 0;
};

// Object -> local file (created or replaced atomically).
core::Result<TransferStats> DownloadFile(ObjectStore& store, std::string_view key,
                                         const std::filesystem::path& destination,
                                         const TransferOptions& options);
// Every object under the directory-like `prefix` ("models/x" means "models/x/...", never
// "models/xl/...") -> files under `directory` (relative key paths kept). Keys that would escape
// the directory ("..", empty segments) are rejected.
core::Result<TransferStats> DownloadPrefix(ObjectStore& store, std::string_view prefix,
                                           const std::filesystem::path& directory,
                                           const TransferOptions& options);
// Objects already listed (key, size and ETag known: no HEAD) -> the given files, all on the same
// workers. Each object's ETag is sent as If-Match, so an object replaced since it was listed fails
// with FailedPrecondition instead of mixing versions. An empty destination receives the object
// for options.on_data only (no file; required then).
struct DownloadJob {
  ObjectInfo object;
  std::filesystem::path destination;
};
core::Result<TransferStats> DownloadObjects(ObjectStore& store, std::vector<DownloadJob> jobs,
                                            const TransferOptions& options);
// Local files -> the given keys, all on the same workers (as DownloadObjects). Each source must
// be a regular file; one that changes while it is read fails the transfer.
struct UploadJob {
  std::filesystem::path source;
  std::string key;
};
core::Result<TransferStats> UploadObjects(ObjectStore& store, std::vector<UploadJob> jobs,
                                          const TransferOptions& options);
// Local file -> object.
core::Result<TransferStats> UploadFile(ObjectStore& store, const std::filesystem::path& source,
                                       std::string_view key, const TransferOptions& options);
// Every regular file under `directory` -> objects under `prefix` ("prefix/relative/path").
core::Result<TransferStats> UploadDirectory(ObjectStore& store,
                                            const std::filesystem::path& directory,
                                            std::string_view prefix,
                                            const TransferOptions& options);

// The listing halves of UploadDirectory and DownloadPrefix, for callers that choose what to move
// (cp/mv/sync with --exclude/--include, sync's comparison) and then call UploadObjects or
// DownloadObjects.
//
// A regular file under a directory: `relative` is its path below it with '/' separators.
struct LocalFile {
  std::filesystem::path path;  // directory / relative
  std::string relative;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // modification time, ns since the epoch
};
// Every regular file under `directory` (recursively; the temporary files of atomic writers
// skipped), sorted by relative path. A missing directory is NotFound.
core::Result<std::vector<LocalFile>> ListLocalFiles(const std::filesystem::path& directory);
// An object under a folder prefix and its key relative to it ("unet/w.bin").
struct PrefixObject {
  ObjectInfo object;
  std::string relative;
};
// Every object under the directory-like `prefix` (FolderPrefix rule: "models/x" is "models/x/"),
// "folder/" marker objects skipped, sorted by key. A relative key that would escape or collapse a
// destination directory ("..", ".", empty segments) is an error, as in DownloadPrefix. An empty
// result is not an error here.
core::Result<std::vector<PrefixObject>> ListPrefixObjects(ObjectStore& store,
                                                          std::string_view prefix);
// "prefix" + "/" + "relative" ("" prefix: `relative`).
std::string JoinKey(std::string_view prefix, std::string_view relative);

// Splits [0, size) into ranges of part_size (the last one shorter). Exposed for tests.
std::vector<core::ByteRange> PlanRanges(std::uint64_t size, std::uint64_t part_size);
// Part size for a multipart upload of `size` bytes: at least `preferred` and 5 MiB, and large
// enough that the upload needs at most 10000 parts.
std::uint64_t ChoosePartSize(std::uint64_t size, std::uint64_t preferred);

}  // namespace sdxl::storage
