#pragma once
// What `sdxl-tigris ls` prints, as pure functions of a listing: the lines of `aws s3 ls` (date,
// time, size, name; "PRE name/" for a folder in the one-level view; date and name for a bucket)
// and the documented --json form (one JSON object per line). Thread-safe; no I/O.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/object_store.h"
#include "storage/s3_list_buckets.h"

namespace sdxl::cli {

struct LsRow {
  std::string name;     // what is printed: the full key, or (one level) the name inside the folder
  std::string key;      // the full key of the object, or the full prefix of a folder ("a/b/")
  bool prefix = false;  // a folder ("PRE name/" line)
  std::uint64_t size = 0;
  std::string last_modified;  // as the server sent it (ISO 8601 from a listing)
  std::string etag;
};

// Every object as a row named by its full key (aws s3 ls --recursive).
std::vector<LsRow> RecursiveRows(std::span<const storage::ObjectInfo> objects);
// The one-level view of the folder `folder` ("" or ending in '/'): every subfolder once as a
// prefix row, then the objects directly in it, each named relative to the folder. `objects` are
// sorted by key; those outside the folder are skipped.
std::vector<LsRow> OneLevelRows(std::span<const storage::ObjectInfo> objects,
                                std::string_view folder);

// "2024-05-01T12:00:00.000Z" -> "2024-05-01 14:00:00" in the local time zone (as aws s3 ls); an
// unparsable value comes back unchanged.
std::string FormatS3Time(std::string_view iso8601);
// aws s3 ls --human-readable: "512 Bytes", "1.0 KiB", "3.5 MiB", ...
std::string HumanSize(std::uint64_t bytes);

// "2024-05-01 14:00:00      12345 name" or "                           PRE name/".
std::string LsLine(const LsRow& row, bool human_readable);
// {"key":...,"size":...,"last_modified":...,"etag":...} or {"prefix":"a/b/"}.
std::string LsJson(const LsRow& row);
// "2024-05-01 14:00:00 name" and {"bucket":...,"creation_date":...}.
std::string BucketLine(const storage::BucketInfo& bucket);
std::string BucketJson(const storage::BucketInfo& bucket);
// --summarize: "\nTotal Objects: N\n   Total Size: N" (aws) or {"total_objects":N,"total_size":N}.
std::string SummaryText(std::size_t objects, std::uint64_t bytes, bool human_readable);
std::string SummaryJson(std::size_t objects, std::uint64_t bytes);

}  // namespace sdxl::cli
