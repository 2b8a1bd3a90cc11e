#include "weights/weight_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fd_io.h"
#include "core/unique_fd.h"

namespace sdxl::weights {
namespace fs = std::filesystem;
namespace {

// Pieces handed to the sink: large enough that per-call costs vanish, small enough that a few of
// them in flight cost little memory.
constexpr std::uint64_t kPiece = 16ull << 20;
// Alignment of O_DIRECT reads (offset, length and buffer): the largest logical block size in use.
constexpr std::uint64_t kDirectAlign = 4096;

// Whether every page of the mapped range [addr, addr + length) is in the page cache (mincore; no
// I/O). `addr` is page-aligned.
bool Resident(void* addr, std::uint64_t length, std::uint64_t page) {
  std::vector<unsigned char> pages((length + page - 1) / page);
  if (::mincore(addr, length, pages.data()) != 0) return true;  // unknown: the mapped path
  return std::all_of(pages.begin(), pages.end(), [](unsigned char p) { return (p & 1) != 0; });
}

core::Status ReadAt(int fd, std::byte* out, std::uint64_t length, std::uint64_t offset,
                    const fs::path& path) {
  const core::IoResult r = core::PreadFull(fd, out, static_cast<std::size_t>(length), offset);
  if (!r.ok()) return core::ErrnoStatus("cannot read " + path.string(), r.error);
  if (r.done < length) return core::DataLoss(path.string() + " is shorter than its header says");
  return core::Status::Ok();
}

}  // namespace

core::Result<SafetensorsHeader> ReadSafetensorsHeaderFromFile(const fs::path& path) {
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return core::ErrnoStatus("cannot open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return core::ErrnoStatus("cannot stat " + path.string(), errno);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::byte prefix[8];
  if (size < 8) return core::DataLoss(path.string() + " is too short to be a safetensors file");
  SDXL_RETURN_IF_ERROR(ReadAt(fd.get(), prefix, 8, 0, path));
  auto n = ReadSafetensorsHeaderSize(prefix);
  if (!n.ok()) return n.status().Annotate(path.string());
  if (*n > size - 8) return core::DataLoss(path.string() + ": header is longer than the file");
  std::vector<std::byte> bytes(8 + *n);
  std::copy(prefix, prefix + 8, bytes.begin());
  SDXL_RETURN_IF_ERROR(ReadAt(fd.get(), bytes.data() + 8, *n, 8, path));
  auto header = ParseSafetensorsHeader(bytes, size);
  if (!header.ok()) return header.status().Annotate(path.string());
  return header;
}

core::Status StreamFileRange(const fs::path& path, std::uint64_t begin, std::uint64_t end,
                             const WeightSink& sink, int threads,
                             const std::function<core::Status()>& stop) {
  if (end <= begin) return core::Status::Ok();
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return core::ErrnoStatus("cannot open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return core::ErrnoStatus("cannot stat " + path.string(), errno);
  if (static_cast<std::uint64_t>(st.st_size) < end) {
    return core::DataLoss(path.string() + " is " + std::to_string(st.st_size) +
                          " bytes, shorter than expected (" + std::to_string(end) + ")");
  }
  // The mapping covers [0, end): page-aligned and no larger than needed. It serves the pieces
  // that are in the page cache; the others are read with O_DIRECT when the file system allows.
  void* map = ::mmap(nullptr, end, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return core::ErrnoStatus("cannot map " + path.string(), errno);
  const auto* base = static_cast<const std::byte*>(map);
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  core::UniqueFd direct_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
  std::atomic<bool> direct{direct_fd.valid()};
  if (!direct) ::madvise(map, end, MADV_SEQUENTIAL);

  const std::uint64_t pieces = (end - begin + kPiece - 1) / kPiece;
  std::atomic<std::uint64_t> next{0};
  std::mutex mu;
  core::Status first_error;
  std::atomic<bool> failed{false};
  auto fail = [&](core::Status st) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok()) first_error = std::move(st);
    failed = true;
  };
  auto work = [&] {
    std::unique_ptr<std::byte, decltype(&std::free)> buffer(nullptr, &std::free);
    for (std::uint64_t i = next.fetch_add(1); i < pieces && !failed; i = next.fetch_add(1)) {
      if (stop) {
        core::Status s = stop();
        if (!s.ok()) return fail(std::move(s));
      }
      const std::uint64_t a = begin + i * kPiece;
      const std::uint64_t b = std::min(end, a + kPiece);
      const std::uint64_t pa = a & ~(page - 1);  // the piece's pages: [pa, pb)
      const std::uint64_t pb = std::min(end, (b + page - 1) & ~(page - 1));
      if (direct && !Resident(const_cast<std::byte*>(base) + pa, pb - pa, page)) {
        // Not (all) in the page cache: read it straight into this reader's buffer, which the
        // next pieces reuse. The read is aligned to whole pages; the file's end may cut it short.
        const std::uint64_t db = (b + kDirectAlign - 1) & ~(kDirectAlign - 1);
        const std::uint64_t da = a & ~(kDirectAlign - 1);
        if (!buffer) {
          buffer.reset(
              static_cast<std::byte*>(std::aligned_alloc(kDirectAlign, kPiece + 2 * kDirectAlign)));
          if (!buffer) {
            return fail(
                core::ErrnoStatus("cannot allocate a read buffer for " + path.string(), ENOMEM));
          }
        }
        const core::IoResult r =
            core::PreadFull(direct_fd.get(), buffer.get(), static_cast<std::size_t>(db - da), da);
        if (r.ok() && r.done >= b - da) {
          core::Status s = sink(a, std::span<const std::byte>(buffer.get() + (a - da), b - a));
          if (!s.ok()) return fail(std::move(s));
          continue;
        }
        if (r.ok()) return fail(core::DataLoss(path.string() + " is shorter than its header says"));
        if (r.error != EINVAL) {
          return fail(core::ErrnoStatus("cannot read " + path.string(), r.error));
        }
        direct = false;  // the file system refused the direct read: mapped reads from now on
      }
      // Ask for the piece ahead of touching it, so the reads are large.
      ::madvise(const_cast<std::byte*>(base) + pa, b - pa, MADV_WILLNEED);
      core::Status s = sink(a, std::span<const std::byte>(base + a, b - a));
      if (!s.ok()) return fail(std::move(s));
      // Whole pages of this piece are no longer needed: drop them from our resident set (the
      // page cache keeps them for other readers).
      const std::uint64_t fa = (a + page - 1) & ~(page - 1);
      const std::uint64_t fb = b & ~(page - 1);
      if (fb > fa) ::madvise(const_cast<std::byte*>(base) + fa, fb - fa, MADV_DONTNEED);
    }
  };
  const int n = static_cast<int>(std::clamp<std::uint64_t>(threads, 1, pieces));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  ::munmap(map, end);
  return first_error;
}

core::Status FolderWeightSource::WaitForComponent(const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  return cancel_status_;
}

bool FolderWeightSource::HasFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

core::Result<SafetensorsHeader> FolderWeightSource::ReadHeader(const fs::path& path) {
  return ReadSafetensorsHeaderFromFile(path);
}

core::Status FolderWeightSource::Stream(const fs::path& path, const WeightSink& sink) {
  SDXL_ASSIGN_OR_RETURN(SafetensorsHeader header, ReadHeader(path));
  return StreamFileRange(path, header.data_offset(), header.file_size(), sink, threads_,
                         [this]() -> core::Status {
                           if (!cancelled_.load(std::memory_order_relaxed))
                             return core::Status::Ok();
                           std::lock_guard<std::mutex> lock(mu_);
                           return cancel_status_;
                         });
}

void FolderWeightSource::Cancel(const core::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancel_status_.ok()) cancel_status_ = status.ok() ? core::Cancelled("cancelled") : status;
  cancelled_ = true;
}

}  // namespace sdxl::weights
