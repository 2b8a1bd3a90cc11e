#pragma once
// Full reads and writes on a POSIX file descriptor: the loops that retry on EINTR and continue
// after a short transfer, written once.
//
// Each call moves all `n` bytes unless the file ends (reads) or a system call fails. The result
// says how many bytes moved and, on failure, the errno of the failing call; callers turn that into
// a Status with their own wording (what the file is, what to do about it). The functions keep no
// state and are thread-safe as far as the descriptor is (pread/pwrite do not move the offset).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sdxl::core {

struct IoResult {
  std::size_t done = 0;  // bytes moved before the end of file or the error
  int error = 0;         // errno of the failing call; 0 when none failed
  bool ok() const { return error == 0; }
};

// Reads until `n` bytes are in `buf` or the file ends (then done < n, error == 0).
IoResult ReadFull(int fd, void* buf, std::size_t n);
// The same at `offset` (pread: the descriptor's offset does not move).
IoResult PreadFull(int fd, void* buf, std::size_t n, std::uint64_t offset);
// Writes all `n` bytes; done < n only with an error (a write that moves nothing is EIO).
IoResult WriteFull(int fd, const void* buf, std::size_t n);
inline IoResult WriteFull(int fd, std::string_view data) {
  return WriteFull(fd, data.data(), data.size());
}
// The same at `offset` (pwrite).
IoResult PwriteFull(int fd, const void* buf, std::size_t n, std::uint64_t offset);

}  // namespace sdxl::core
