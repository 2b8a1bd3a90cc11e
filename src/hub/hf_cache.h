#pragma once
// HfCache: the huggingface_hub cache layout under $HF_HUB_CACHE, shared with Python tools:
//   models--org--name/refs/<revision>            the commit a branch/tag pointed to
//   models--org--name/blobs/<etag>               file contents (sha256 for LFS, git sha1 otherwise)
//   models--org--name/snapshots/<commit>/<path>  relative symlink to ../../blobs/<etag>
//   .locks/models--org--name/<etag>.lock         flock()ed while a blob is being written
// Writes are atomic (temp file + rename). Thread-safe and process-safe through the lock files.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/hub_protocol.h"

namespace sdxl::hub {

// An exclusive flock() on a lock file; released on destruction.
class FileLock {
 public:
  static core::Result<FileLock> Acquire(const std::filesystem::path& path);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

class HfCache {
 public:
  explicit HfCache(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path RepoDir(std::string_view repo_id) const;
  std::filesystem::path BlobPath(std::string_view repo_id, std::string_view etag) const;
  std::filesystem::path IncompletePath(std::string_view repo_id, std::string_view etag) const;
  std::filesystem::path LockPath(std::string_view repo_id, std::string_view etag) const;
  std::filesystem::path SnapshotDir(std::string_view repo_id, std::string_view commit) const;

  // refs/<revision>: the commit it resolved to last time, if known.
  std::optional<std::string> ReadRef(std::string_view repo_id, std::string_view revision) const;
  core::Status WriteRef(std::string_view repo_id, std::string_view revision,
                        std::string_view commit) const;

  // Points snapshots/<commit>/<path> at blobs/<etag> (relative symlink, replaced if different).
  core::Status LinkSnapshot(std::string_view repo_id, std::string_view commit,
                            const RepoFile& file) const;

  // The snapshot path of `file` when its blob is already cached with the right size (and links it
  // into the snapshot if needed); nullopt otherwise.
  std::optional<std::filesystem::path> Find(std::string_view repo_id, std::string_view commit,
                                            const RepoFile& file) const;

  // Files of a cached snapshot (for offline mode): path, size and the blob name as etag.
  core::Result<std::vector<RepoFile>> ListSnapshot(std::string_view repo_id,
                                                   std::string_view commit) const;

 private:
  std::filesystem::path root_;
};

}  // namespace sdxl::hub
