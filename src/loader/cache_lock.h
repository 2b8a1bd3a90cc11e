#pragma once
// CacheLock: an exclusive advisory lock (flock(2)) on a lock file, held for the object's lifetime,
// so that processes (and threads: each Acquire opens its own descriptor) pulling the same model
// into one cache take turns. The lock file itself is left in place (deleting lock files races).
// The kernel drops the lock when the process dies, so a killed pull never leaves the cache locked.
//
// Move-only; not thread-safe itself (one owner).

#include <atomic>
#include <filesystem>
#include <functional>

#include "core/status.h"
#include "core/unique_fd.h"

namespace sdxl::loader {

class CacheLock {
 public:
  // Creates `path` (and its parent directories) if needed and waits for the lock. `on_wait` is
  // called once if another holder makes us wait; `cancel` (optional) stops the wait with
  // Cancelled.
  static core::Result<CacheLock> Acquire(const std::filesystem::path& path,
                                         const std::atomic<bool>* cancel = nullptr,
                                         const std::function<void()>& on_wait = {});

  CacheLock(CacheLock&&) noexcept = default;
  CacheLock& operator=(CacheLock&&) noexcept = default;

 private:
  explicit CacheLock(core::UniqueFd fd) : fd_(std::move(fd)) {}
  core::UniqueFd fd_;  // closing it releases the lock
};

}  // namespace sdxl::loader
