#pragma once
// File helpers written by hand in several modules before: write a small file atomically and read a
// whole file back.
//
// WriteFileAtomically never leaves a partial file under `path`: the bytes go to a temporary file
// in the same directory (".NAME.sdxl-tmp-XXXXXXXX", the name the listing and upload code skip),
// which is fsync'd and renamed over `path`; the directory is fsync'd after the rename, so the new
// name survives a crash too. Readers see the old content or the new one, never a mix.
// Both functions are thread-safe (no shared state); the caller owns the returned string.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sdxl::core {

// Replaces (or creates) `path` with `data`, creating parent directories. On failure the
// temporary file is removed and `path` is untouched.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data);

// The whole content of `path`. NotFound when it does not exist, InvalidArgument when it is larger
// than `max_bytes` (a guard against reading a huge file by mistake), other errors by errno.
Result<std::string> ReadFile(const std::filesystem::path& path,
                             std::uint64_t max_bytes = std::uint64_t{1} << 30);

}  // namespace sdxl::core
