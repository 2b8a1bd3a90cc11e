#pragma once
// `cp -`: one object streamed to or from a file descriptor (stdout / stdin), for pipes where the
// length is not known up front. Thread-safe as far as the store is; the caller owns the fd.

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "storage/object_store.h"
#include "storage/transfer.h"

namespace sdxl::cli {

struct StreamStats {
  std::uint64_t bytes = 0;
  int parts = 0;  // 0: one PUT (the input fit in one part); else the multipart upload's parts
  double seconds = 0;
};

// Reads `fd` to its end and stores the bytes as `key`. Input that fits in one part
// (options.part_size) is one PUT; longer input is a multipart upload of part_size parts (at most
// 10000: part_size bounds the size, 16 MiB -> 156 GiB), up to min(concurrency, 4) parts in
// flight, so memory stays under 5 parts. Any failure or options.cancel aborts the upload: no
// object is written from partial input.
core::Result<StreamStats> UploadStream(storage::ObjectStore& store, std::string_view key, int fd,
                                       const storage::TransferOptions& options);

// Writes the object `key` to `fd` in order (one GET, resumed from the last byte on a retry).
// A failure part-way leaves what was written in `fd` (a pipe cannot take it back) and is an error.
core::Result<StreamStats> DownloadStream(storage::ObjectStore& store, std::string_view key, int fd,
                                         const storage::TransferOptions& options);

}  // namespace sdxl::cli
