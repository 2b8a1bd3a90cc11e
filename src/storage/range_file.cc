#include "storage/range_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/fd_io.h"
#include "core/file_util.h"

namespace sdxl::storage {
namespace {

// Below this size direct I/O saves nothing worth its alignment bookkeeping.
constexpr std::uint64_t kDirectMinSize = 1 << 20;

// The file system's direct-I/O alignment for `fd` (buffer address, offset and length), or 0 when
// it does not support direct I/O.
std::size_t DirectIoAlignment(int fd) {
#ifdef STATX_DIOALIGN
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
      (stx.stx_mask & STATX_DIOALIGN)) {
    if (stx.stx_dio_mem_align == 0 || stx.stx_dio_offset_align == 0) return 0;
    return std::max<std::size_t>({stx.stx_dio_mem_align, stx.stx_dio_offset_align, 512});
  }
#else
  (void)fd;
#endif
  return 4096;  // the kernel does not say: the common block size; EINVAL falls back at write time
}

std::uint64_t RoundUp(std::uint64_t n, std::uint64_t align) {
  return (n + align - 1) / align * align;
}

}  // namespace

core::Result<std::unique_ptr<RangeFile>> RangeFile::Create(const std::filesystem::path& path,
                                                           std::uint64_t size, bool try_direct) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return core::ErrnoStatus("cannot create " + path.string(), errno);
  std::unique_ptr<RangeFile> file(new RangeFile(path, fd, size, 0));
  if (core::Status st = core::ClaimTempFile(fd, path); !st.ok()) {
    file->Close();
    ::unlink(path.c_str());
    return st;
  }
  if (size > 0) {
    // Reserve the blocks up front (fails fast on a full disk); fall back to a sparse file.
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    core::Status st;
    if (rc == ENOSPC || rc == EDQUOT) {
      st = core::ErrnoStatus("cannot reserve space for " + path.string(), rc);
    } else if (rc != 0 && ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      st = core::ErrnoStatus("cannot size " + path.string(), errno);
    }
    if (!st.ok()) {
      file->Close();
      ::unlink(path.c_str());  // created above (O_EXCL): ours to remove
      return st;
    }
  }
  if (try_direct && size >= kDirectMinSize) {
    const std::size_t align = DirectIoAlignment(fd);
    const int flags = ::fcntl(fd, F_GETFL);
    if (align != 0 && flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0) {
      file->alignment_ = align;
      file->direct_.store(true);
    }
  }
  return file;
}

RangeFile::RangeFile(std::filesystem::path path, int fd, std::uint64_t size, std::size_t alignment)
    : path_(std::move(path)), fd_(fd), size_(size), alignment_(alignment) {}

RangeFile::~RangeFile() { Close(); }

void RangeFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

core::Status RangeFile::Finish() {
  // A padded direct write of the tail may have run past the end.
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    return core::ErrnoStatus("cannot size " + path_.string(), errno);
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return core::ErrnoStatus("cannot stat " + path_.string(), errno);
  if (static_cast<std::uint64_t>(st.st_size) != size_) {
    return core::DataLoss(path_.string() + ": size " + std::to_string(st.st_size) +
                          " differs from the expected " + std::to_string(size_));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return core::ErrnoStatus("cannot write " + path_.string(), errno);
  return core::Status::Ok();
}

core::Status RangeFile::WriteBuffered(const char* data, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  for (;;) {
    const core::IoResult r = core::PwriteFull(fd_, data + done, n - done, offset + done);
    done += r.done;
    if (r.ok()) return core::Status::Ok();
    if (r.error == EINVAL && direct()) {  // the descriptor is direct: another thread switched late
      DisableDirect();
      continue;
    }
    return core::ErrnoStatus("cannot write " + path_.string(), r.error);
  }
}

core::Status RangeFile::WriteDirect(const char* data, std::size_t n, std::uint64_t offset) {
  const core::IoResult r = core::PwriteFull(fd_, data, n, offset);
  if (r.ok()) return core::Status::Ok();
  if (r.error == EINVAL) {  // the file system refused this direct write: go buffered for good
    DisableDirect();
    return WriteBuffered(data + r.done, n - r.done, offset + r.done);
  }
  return core::ErrnoStatus("cannot write " + path_.string(), r.error);
}

void RangeFile::DisableDirect() {
  direct_.store(false);
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT);
}

RangeWriter::RangeWriter(std::size_t stage_bytes) : stage_bytes_(stage_bytes) {}

RangeWriter::~RangeWriter() { std::free(stage_); }

void RangeWriter::Begin(RangeFile& file, std::uint64_t offset) {
  file_ = &file;
  position_ = offset;
  stage_offset_ = offset;
  staged_ = 0;
  const std::size_t align = file.alignment();
  direct_ = file.direct() && align != 0 && offset % align == 0 && stage_bytes_ % align == 0 &&
            stage_bytes_ >= align;
  if (direct_ && stage_ == nullptr) {
    // Huge-page backed when the kernel allows it (THP "madvise" mode): every direct write pins
    // the stage's pages (get_user_pages), which costs per page; 2 MiB pages make that ~free.
    const std::size_t huge = std::size_t{2} << 20;
    const bool use_huge = stage_bytes_ % huge == 0;
    stage_ = static_cast<char*>(std::aligned_alloc(use_huge ? huge : align, stage_bytes_));
    if (stage_ == nullptr) {
      direct_ = false;
    } else if (use_huge) {
      (void)::madvise(stage_, stage_bytes_, MADV_HUGEPAGE);  // advisory: ignore failure
    }
  }
}

core::Status RangeWriter::Write(std::string_view chunk) {
  if (!direct_) {
    SDXL_RETURN_IF_ERROR(file_->WriteBuffered(chunk.data(), chunk.size(), position_));
    position_ += chunk.size();
    return core::Status::Ok();
  }
  while (!chunk.empty()) {
    const std::size_t n = std::min(chunk.size(), stage_bytes_ - staged_);
    std::memcpy(stage_ + staged_, chunk.data(), n);
    staged_ += n;
    position_ += n;
    chunk.remove_prefix(n);
    if (staged_ == stage_bytes_) SDXL_RETURN_IF_ERROR(Flush(false));
  }
  return core::Status::Ok();
}

std::span<char> RangeWriter::Space() {
  if (direct_) return std::span<char>(stage_ + staged_, stage_bytes_ - staged_);
  constexpr std::size_t kScratch = 256 * 1024;
  if (!scratch_) scratch_ = std::make_unique<char[]>(kScratch);
  return std::span<char>(scratch_.get(), kScratch);
}

core::Status RangeWriter::Commit(std::size_t n) {
  if (!direct_) {
    SDXL_RETURN_IF_ERROR(file_->WriteBuffered(scratch_.get(), n, position_));
    position_ += n;
    return core::Status::Ok();
  }
  staged_ += n;
  position_ += n;
  if (staged_ == stage_bytes_) SDXL_RETURN_IF_ERROR(Flush(false));
  return core::Status::Ok();
}

core::Status RangeWriter::Flush(bool final) {
  if (staged_ == 0) return core::Status::Ok();
  const std::size_t align = file_->alignment();
  std::size_t length = staged_;
  core::Status st;
  if (!file_->direct()) {
    st = file_->WriteBuffered(stage_, staged_, stage_offset_);
  } else if (staged_ % align == 0) {
    st = file_->WriteDirect(stage_, staged_, stage_offset_);
  } else if (final && stage_offset_ + staged_ == file_->size()) {
    // The file's tail: pad to the block size; RangeFile::Finish truncates the padding.
    length = static_cast<std::size_t>(RoundUp(staged_, align));
    std::memset(stage_ + staged_, 0, length - staged_);
    st = file_->WriteDirect(stage_, length, stage_offset_);
    length = staged_;
  } else {
    // An unaligned end inside the file (a short range): aligned part direct, the rest buffered.
    const std::size_t head = staged_ / align * align;
    st = head == 0 ? core::Status::Ok() : file_->WriteDirect(stage_, head, stage_offset_);
    if (st.ok()) {
      file_->DisableDirect();
      st = file_->WriteBuffered(stage_ + head, staged_ - head, stage_offset_ + head);
    }
  }
  SDXL_RETURN_IF_ERROR(st);
  stage_offset_ += length;
  staged_ = 0;
  if (!file_->direct()) direct_ = false;  // switched to buffered: stage no more
  return core::Status::Ok();
}

core::Status RangeWriter::End(bool keep) {
  if (!keep) {
    staged_ = 0;
    return core::Status::Ok();
  }
  return Flush(true);
}

}  // namespace sdxl::storage
