#pragma once
// CacheState: the bookkeeping of one model folder in the local cache, stored as
// `<model dir>/.sdxl-tigris-cache.json` beside the files: for each file pulled, the size and ETag
// the bucket listed, the SHA-256 it was verified against (when the manifest had one) and the
// file's stat stamp at that moment. A later pull reuses a file without reading it again when its
// stamp is unchanged; any write, truncation or replacement changes the stamp (ctime cannot be set
// back), and the file is then re-hashed or fetched again.
//
// `<model dir>/.sdxl-tigris-complete` is written last, atomically, once every file is in place;
// its absence means "not ready" (a pull was interrupted or is running).
//
// Plain values; thread-compatible (guard a shared instance yourself). Parsing is strict but a
// damaged state file only costs re-verification: callers treat a parse error as an empty state.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sdxl::loader {

inline constexpr std::string_view kCacheStateFileName = ".sdxl-tigris-cache.json";
inline constexpr std::string_view kCompleteMarkerName = ".sdxl-tigris-complete";

// What stat(2) says about a file; equal stamps mean "not touched since".
struct FileStamp {
  std::uint64_t size = 0;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// The stamp of a regular file; nullopt when nothing (or something other than a regular file) is
// there; an error for other stat failures (permissions).
core::Result<std::optional<FileStamp>> StampOf(const std::filesystem::path& path);

struct CachedFile {
  std::uint64_t size = 0;
  std::string etag;    // as listed when it was downloaded or checked
  std::string sha256;  // verified against this digest; empty when there was none
  FileStamp stamp;
};

struct CacheState {
  std::string source;                       // "s3://bucket/prefix"
  std::map<std::string, CachedFile> files;  // relative path -> record
};

std::string CacheStateToJson(const CacheState& state);
// DataLoss for anything that is not a state file this version wrote.
core::Result<CacheState> ParseCacheState(std::string_view json);

// True for the names the cache keeps for itself in a model folder (never bucket content).
bool IsCacheBookkeepingName(std::string_view relative_path);

}  // namespace sdxl::loader
