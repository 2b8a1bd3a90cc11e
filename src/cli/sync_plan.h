#pragma once
// What `sdxl-tigris sync` copies and deletes, as pure functions of the two listings (aws s3 sync's
// rules), plus the object times every download writes onto its file.
//
// A path is copied when the destination lacks it, or (default) when the sizes differ or the
// source is newer: for an upload, the local file's mtime is later than the object's LastModified;
// for a download, the object's LastModified is later than the local file's mtime. Times are
// compared in whole seconds (S3 keeps seconds). Every download sets the file's mtime to the
// object's LastModified, so a second sync finds nothing newer. --size-only compares sizes only;
// --exact-timestamps (downloads) copies when the times differ at all. With --delete, destination
// paths the source lacks are deleted. Thread-safe; no I/O except SetMtimeFromLastModified.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::cli {

// "2024-05-01T12:00:00.000Z" (listings) or "Wed, 01 May 2024 12:00:00 GMT" (HEAD's
// Last-Modified) -> seconds since the epoch (UTC). nullopt when it is neither.
std::optional<std::int64_t> ParseS3Time(std::string_view text);

// Sets the file's modification time to `last_modified` (ParseS3Time); does nothing when the time
// cannot be parsed.
core::Status SetMtimeFromLastModified(const std::filesystem::path& file,
                                      std::string_view last_modified);

enum class SyncDirection { kUpload, kDownload };
enum class SyncCompare { kSizeAndTime, kSizeOnly, kExactTimestamps };

// One side's view of a path below the synced folder or prefix.
struct SyncEntry {
  std::string relative;
  std::uint64_t size = 0;
  std::optional<std::int64_t> mtime;  // seconds; nullopt: unknown (always copied unless
                                      // --size-only)
};

// Whether `source` must be copied over the existing `destination`.
bool NeedsCopy(SyncDirection direction, SyncCompare compare, const SyncEntry& source,
               const SyncEntry& destination);

struct SyncPlan {
  std::vector<std::size_t> copies;   // indices into `source`, in its order
  std::vector<std::size_t> deletes;  // indices into `destination` (only with delete_extra)
};
SyncPlan PlanSync(SyncDirection direction, SyncCompare compare, std::span<const SyncEntry> source,
                  std::span<const SyncEntry> destination, bool delete_extra);

}  // namespace sdxl::cli
