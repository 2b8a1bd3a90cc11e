#include "core/file_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <random>
#include <utility>

#include "core/fd_io.h"
#include "core/unique_fd.h"

namespace sdxl::core {
namespace fs = std::filesystem;
namespace {

fs::path DirOf(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

}  // namespace

fs::path TempPathFor(const fs::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (counter.fetch_add(1) * 0x9E3779B97F4A7C15ULL) ^
                                   static_cast<std::uint64_t>(::getpid()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 8; ++i) suffix.push_back(kHex[rng() & 0xF]);
  return path.parent_path() / ("." + path.filename().string() + std::string(kTempMarker) + suffix);
}

Status ClaimTempFile(int fd, const fs::path& tmp) {
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return ErrnoStatus("cannot lock " + tmp.string(), errno);
  return Status::Ok();
}

std::size_t RemoveAbandonedTemps(const fs::path& path, int min_age_s) {
  const std::string stem = "." + path.filename().string() + std::string(kTempMarker);
  std::error_code ec;
  fs::directory_iterator it(DirOf(path), ec);
  if (ec) return 0;
  std::size_t removed = 0;
  // Ages in nanoseconds: with whole seconds a file changed at 0.9 s would look a second old at 1.0
  // s.
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const auto ns = [](const struct timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  };
  const std::int64_t min_age_ns = static_cast<std::int64_t>(min_age_s) * 1'000'000'000;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    // The stem plus exactly the 8 hex digits TempPathFor adds: ".a.sdxl-tmp-" must not match the
    // temporaries of a file named "a.sdxl-tmp-x".
    if (!name.starts_with(stem) || name.size() != stem.size() + 8 ||
        name.find_first_not_of("0123456789abcdef", stem.size()) != std::string::npos) {
      continue;
    }
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        ns(now) - ns(st.st_ctim) < min_age_ns) {
      continue;
    }
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // its writer runs
    if (::unlink(p.c_str()) == 0) ++removed;
  }
  return removed;
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const fs::path& path, Options options) {
  RemoveAbandonedTemps(path);
  fs::path tmp = TempPathFor(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create " + tmp.string(), errno);
  AtomicFileWriter writer(path, std::move(tmp), fd, options);
  SDXL_RETURN_IF_ERROR(ClaimTempFile(fd, writer.temp_path()));
  return writer;
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_(std::exchange(other.tmp_, {})),
      fd_(std::exchange(other.fd_, -1)),
      options_(other.options_) {}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    Discard();
    path_ = std::move(other.path_);
    tmp_ = std::exchange(other.tmp_, {});
    fd_ = std::exchange(other.fd_, -1);
    options_ = other.options_;
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() { Discard(); }

void AtomicFileWriter::Discard() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (!tmp_.empty()) ::unlink(std::exchange(tmp_, {}).c_str());
}

Status AtomicFileWriter::Write(const void* data, std::size_t n) {
  if (fd_ < 0) return FailedPrecondition("AtomicFileWriter::Write after Commit");
  const IoResult r = WriteFull(fd_, data, n);
  if (!r.ok()) return ErrnoStatus("cannot write " + tmp_.string(), r.error);
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return FailedPrecondition("AtomicFileWriter::Commit called twice");
  Status st;
  if (options_.sync && ::fsync(fd_) != 0) st = ErrnoStatus("cannot write " + tmp_.string(), errno);
  if (st.ok() && ::close(std::exchange(fd_, -1)) != 0) {
    st = ErrnoStatus("cannot write " + tmp_.string(), errno);
  }
  if (st.ok() && ::rename(tmp_.c_str(), path_.c_str()) != 0) {
    st = ErrnoStatus("cannot rename " + tmp_.string() + " to " + path_.string(), errno);
  }
  if (!st.ok()) {
    Discard();
    return st;
  }
  tmp_.clear();
  if (options_.sync) {
    // Make the rename itself durable (best effort: some file systems refuse fsync on directories).
    UniqueFd dfd(::open(DirOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.valid()) ::fsync(dfd.get());
  }
  return Status::Ok();
}

Status WriteFileAtomically(const fs::path& path, std::string_view data,
                           AtomicFileWriter::Options options) {
  const fs::path dir = DirOf(path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus("cannot create directory " + dir.string(), ec.value());
  SDXL_ASSIGN_OR_RETURN(AtomicFileWriter w, AtomicFileWriter::Create(path, options));
  SDXL_RETURN_IF_ERROR(w.Write(data));
  return w.Commit();
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
    const IoResult r = ReadFull(fd.get(), buf, sizeof buf);
    if (!r.ok()) return ErrnoStatus("cannot read " + path.string(), r.error);
    if (out.size() + r.done > max_bytes) {
      return InvalidArgument(path.string() + " grew past " + std::to_string(max_bytes) +
                             " bytes while it was read");
    }
    out.append(buf, r.done);
    if (r.done < sizeof buf) break;
  }
  return out;
}

}  // namespace sdxl::core
