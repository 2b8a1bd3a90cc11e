#pragma once
// What `cp`, `mv` and `sync` copy, and the one call that copies it.
//
// PlanCopy turns a command line (SRC, DST, --recursive, --exclude/--include) into one item per
// file or object, from a HEAD, a stat, or a listing of the source (the FolderPrefix rule for
// prefixes, the filter applied to paths relative to the source folder or prefix). RunCopyPlan
// hands the items to the transfer engine (storage/transfer.h: parallel ranged GETs into temporary
// files renamed into place, parallel multipart uploads aborted on failure, Ctrl-C cancels) and
// gives every downloaded file the object's LastModified as its mtime (as aws s3 does), so that
// `sync` after `cp` finds nothing to do. Not thread-safe; plans are plain values.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"
#include "cli/s3_flags.h"
#include "core/glob_filter.h"
#include "core/status.h"
#include "storage/object_store.h"
#include "storage/transfer.h"

namespace sdxl::cli {

struct CopyItem {
  std::filesystem::path local;   // the local file: source of an upload, destination of a download
  storage::ObjectInfo object;    // full key; downloads: size, ETag, LastModified as listed/HEADed
  std::uint64_t local_size = 0;  // uploads: the file as planned
  std::int64_t local_mtime_ns = 0;  // uploads
  std::string from;                 // for messages: "dir/a.txt" or "s3://bucket/key"
  std::string to;
};

struct CopyPlan {
  bool upload = false;
  std::vector<CopyItem> items;
};

struct CopyRequest {
  std::string src;  // as typed; exactly one side is s3://
  std::string dst;
  S3Url url;  // the s3:// side
  bool recursive = false;
  const core::PathFilter* filter = nullptr;  // recursive only; null = everything
  std::string_view verb = "copy";            // "nothing to <verb>: ..."
};

// The usage errors cp and mv share, found before any request ("" when the line is fine):
// not exactly one s3:// side, s3 to s3, a bucket or prefix without --recursive, a directory
// without --recursive, --exclude/--include without --recursive. `command` is "cp" or "mv".
std::string CopyUsageError(std::string_view command, std::string_view src, std::string_view dst,
                           bool recursive, bool has_filters);

// HEADs, stats or lists the source. Nothing to copy (a recursive source with no files/objects, or
// none the filter keeps) is NotFound, with a message that says which.
core::Result<CopyPlan> PlanCopy(storage::ObjectStore& store, const CopyRequest& request);

// Copies every item (UploadObjects or DownloadObjects) with a progress bar on a terminal unless
// quiet; SIGINT/SIGTERM cancel (Cancelled). Downloads get the object's LastModified as mtime.
core::Result<storage::TransferStats> RunCopyPlan(storage::ObjectStore& store, const CopyPlan& plan,
                                                 storage::TransferOptions options, bool quiet);

// "s3://bucket/key".
std::string S3Display(std::string_view bucket, std::string_view key);

}  // namespace sdxl::cli
