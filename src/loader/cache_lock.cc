#include "loader/cache_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace sdxl::loader {

core::Result<CacheLock> CacheLock::Acquire(const std::filesystem::path& path,
                                           const std::atomic<bool>* cancel,
                                           const std::function<void()>& on_wait) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return core::ErrnoStatus("cannot create the cache folder " + path.parent_path().string() +
                                 " (set MODEL_CACHE_DIR or --cache to a writable folder)",
                             ec.value());
  }
  core::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return core::ErrnoStatus("cannot open the cache lock " + path.string() +
                                 " (set MODEL_CACHE_DIR or --cache to a writable folder)",
                             errno);
  }
  bool waited = false;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      return core::ErrnoStatus("cannot lock " + path.string(), errno);
    }
    if (!waited) {
      waited = true;
      if (on_wait) on_wait();
    }
    if (cancel != nullptr && cancel->load()) {
      return core::Cancelled("interrupted while waiting for another pull into the same cache");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return CacheLock(std::move(fd));
}

}  // namespace sdxl::loader
