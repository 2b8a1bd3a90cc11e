#pragma once
// File helpers written by hand in several modules before: write a file atomically (in one piece
// or streamed) and read a whole file back.
//
// Atomic writes never leave a partial file under `path`: the bytes go to a temporary file in the
// same directory (".NAME.sdxl-tmp-XXXXXXXX", see kTempMarker: the listing, upload and cache code
// skip such names), which is fsync'd and renamed over `path`; the directory is fsync'd after the
// rename, so the new name survives a crash too. Readers see the old content or the new one, never
// a mix. The functions are thread-safe (no shared state); the caller owns the returned string.
// An AtomicFileWriter is used by one thread at a time.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sdxl::core {

// Part of every temporary file name the atomic writers use; code that lists or uploads a folder
// skips names that contain it.
inline constexpr std::string_view kTempMarker = ".sdxl-tmp-";

// A fresh temporary name next to `path`: ".NAME.sdxl-tmp-XXXXXXXX" (8 random hex digits).
std::filesystem::path TempPathFor(const std::filesystem::path& path);

// Temporary files are claimed by their writer with an exclusive flock(2) for as long as it runs
// (the kernel drops the lock when the process dies, even by SIGKILL). ClaimTempFile takes it on a
// descriptor just created; RemoveAbandonedTemps deletes the temporaries of `path` (the
// ".NAME.sdxl-tmp-*" files beside it) whose lock it can take, i.e. whose writer is gone, so a
// rerun after a kill does not leave a dead download's bytes on disk. Temporaries changed in the
// last `min_age_s` seconds are spared (a writer between open and flock). Best effort: returns how
// many it removed, never fails.
Status ClaimTempFile(int fd, const std::filesystem::path& tmp);
std::size_t RemoveAbandonedTemps(const std::filesystem::path& path, int min_age_s = 1);

// The whole content of `path`. NotFound when it does not exist, InvalidArgument when it is larger
// than `max_bytes` (a guard against reading a huge file by mistake), other errors by errno.
Result<std::string> ReadFile(const std::filesystem::path& path,
                             std::uint64_t max_bytes = std::uint64_t{1} << 30);

// Streams a file into place: Create() opens a temporary file next to `path` (the parent directory
// must exist), Write() appends to it, Commit() makes it `path` (fsync, close, rename, fsync of the
// directory). Destroying a writer that was not committed, or whose Commit() failed, removes the
// temporary file, so `path` keeps its old content. Move-only.
class AtomicFileWriter {
 public:
  struct Options {
    // fsync the file before the rename and the directory after it. false for files that are
    // cheap to make again (the rename is still atomic, only durability across a crash is lost).
    bool sync = true;
  };

  static Result<AtomicFileWriter> Create(const std::filesystem::path& path, Options options);
  static Result<AtomicFileWriter> Create(const std::filesystem::path& path) {
    return Create(path, Options{});
  }
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  // Appends `n` bytes (all of them, or an error naming the temporary file).
  Status Write(const void* data, std::size_t n);
  Status Write(std::string_view data) { return Write(data.data(), data.size()); }
  // Renames the temporary file onto path(). Once only; after an error the writer is spent.
  Status Commit();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return tmp_; }

 private:
  AtomicFileWriter(std::filesystem::path path, std::filesystem::path tmp, int fd, Options options)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd), options_(options) {}
  void Discard();

  std::filesystem::path path_;
  std::filesystem::path tmp_;  // empty once committed or discarded
  int fd_ = -1;
  Options options_;
};

// Replaces (or creates) `path` with `data`, creating parent directories. On failure the
// temporary file is removed and `path` is untouched.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view data,
                           AtomicFileWriter::Options options = {});

}  // namespace sdxl::core
