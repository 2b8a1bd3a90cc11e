#include "core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>

#include "core/unique_fd.h"

namespace sdxl::core {
namespace fs = std::filesystem;
namespace {

fs::path TempNameFor(const fs::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  std::mt19937_64 rng(std::random_device{}() ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ULL) ^
                      static_cast<std::uint64_t>(::getpid()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 8; ++i) suffix.push_back(kHex[rng() & 0xF]);
  return path.parent_path() / ("." + path.filename().string() + ".sdxl-tmp-" + suffix);
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(what, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomically(const fs::path& path, std::string_view data) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus("cannot create directory " + dir.string(), ec.value());
  const fs::path tmp = TempNameFor(path);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("cannot create " + tmp.string(), errno);
  Status st = WriteAll(fd.get(), data, "cannot write " + tmp.string());
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoStatus("cannot write " + tmp.string(), errno);
  if (st.ok() && ::close(fd.release()) != 0) {
    st = ErrnoStatus("cannot write " + tmp.string(), errno);
  }
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoStatus("cannot rename " + tmp.string() + " to " + path.string(), errno);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // Make the rename itself durable (best effort: some file systems refuse fsync on directories).
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.valid()) ::fsync(dfd.get());
  return Status::Ok();
}

Result<std::string> ReadFile(const fs::path& path, std::uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat " + path.string(), errno);
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(path.string() + " is a directory, not a file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return InvalidArgument(path.string() + " is " + std::to_string(st.st_size) +
                           " bytes, more than the " + std::to_string(max_bytes) +
                           " this reader accepts");
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read " + path.string(), errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return InvalidArgument(path.string() + " grew past " + std::to_string(max_bytes) +
                             " bytes while it was read");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace sdxl::core
