#include "core/fd_io.h"

#include <unistd.h>

#include <cerrno>

namespace sdxl::core {
namespace {

// One loop for the four calls: `op(p, left, at)` is one read/write of `left` bytes at byte `at`
// of the request. Reads stop at end of file; a write that moves nothing is an error.
template <bool kRead, typename Op>
IoResult Loop(std::size_t n, Op op) {
  IoResult r;
  while (r.done < n) {
    const ssize_t got = op(r.done, n - r.done);
    if (got < 0) {
      if (errno == EINTR) continue;
      r.error = errno;
      return r;
    }
    if (got == 0) {
      if (!kRead) r.error = EIO;
      return r;
    }
    r.done += static_cast<std::size_t>(got);
  }
  return r;
}

}  // namespace

IoResult ReadFull(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  return Loop<true>(n, [&](std::size_t at, std::size_t left) { return ::read(fd, p + at, left); });
}

IoResult PreadFull(int fd, void* buf, std::size_t n, std::uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  return Loop<true>(n, [&](std::size_t at, std::size_t left) {
    return ::pread(fd, p + at, left, static_cast<off_t>(offset + at));
  });
}

IoResult WriteFull(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  return Loop<false>(n,
                     [&](std::size_t at, std::size_t left) { return ::write(fd, p + at, left); });
}

IoResult PwriteFull(int fd, const void* buf, std::size_t n, std::uint64_t offset) {
  const auto* p = static_cast<const char*>(buf);
  return Loop<false>(n, [&](std::size_t at, std::size_t left) {
    return ::pwrite(fd, p + at, left, static_cast<off_t>(offset + at));
  });
}

}  // namespace sdxl::core
