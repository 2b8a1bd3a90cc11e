#include "storage/local_object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "core/fd_io.h"
#include "core/file_util.h"
#include "core/iso8601.h"
#include "core/unique_fd.h"

namespace sdxl::storage {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kUploadsDir = ".sdxl-uploads";

std::string EtagOf(const struct stat& st) {
  return "local-" + std::to_string(st.st_size) + "-" +
         std::to_string(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
}

std::string RandomHex(int digits) {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (counter.fetch_add(1) * 0x9E3779B97F4A7C15ULL));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out.push_back(kHex[rng() & 0xF]);
  return out;
}

}  // namespace

LocalObjectStore::LocalObjectStore(fs::path root) : root_(std::move(root)) {}

std::string LocalObjectStore::Describe() const { return root_.string(); }
std::string LocalObjectStore::DescribeKey(std::string_view key) const {
  return (root_ / std::string(key)).string();
}

core::Result<fs::path> LocalObjectStore::PathFor(std::string_view key) const {
  if (key.empty() || key.front() == '/') {
    return core::InvalidArgument("object key \"" + std::string(key) + "\" is empty or absolute");
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    const std::string_view seg = key.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == ".." || seg == kUploadsDir) {
      return core::InvalidArgument("object key \"" + std::string(key) +
                                   "\" has an empty, \".\" or \"..\" segment; local stores "
                                   "cannot hold it");
    }
    start = end + 1;
  }
  return root_ / std::string(key);
}

core::Result<fs::path> LocalObjectStore::UploadDir(std::string_view upload_id) const {
  for (char c : upload_id) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return core::NotFound("no such multipart upload \"" + std::string(upload_id) + "\"");
    }
  }
  return root_ / std::string(kUploadsDir) / std::string(upload_id);
}

core::Result<ObjectInfo> LocalObjectStore::Head(std::string_view key) {
  SDXL_ASSIGN_OR_RETURN(fs::path p, PathFor(key));
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return core::NotFound(p.string() + ": no such object; check the key (ls lists what exists)");
  }
  return ObjectInfo{std::string(key), static_cast<std::uint64_t>(st.st_size), EtagOf(st), ""};
}

core::Status LocalObjectStore::GetRange(std::string_view key, std::uint64_t offset,
                                        std::optional<std::uint64_t> length, const ChunkSink& sink,
                                        const ReadOptions& options) {
  SDXL_ASSIGN_OR_RETURN(fs::path p, PathFor(key));
  core::UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return core::NotFound(p.string() + ": no such object");
    return core::ErrnoStatus("cannot open " + p.string(), errno);
  }
  struct stat st {};
  ::fstat(fd.get(), &st);
  if (!options.if_match.empty() && options.if_match != EtagOf(st)) {
    return core::FailedPrecondition(p.string() +
                                    ": the object changed during the transfer; "
                                    "run again");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t end = length ? offset + *length : size;
  if (offset > size || end > size) {
    return core::FailedPrecondition(p.string() + ": requested range is outside the object");
  }
  std::vector<char> buf(1 << 20);
  std::uint64_t pos = offset;
  while (pos < end) {
    if (options.cancel != nullptr && options.cancel->load()) return core::Cancelled("cancelled");
    const size_t want = static_cast<size_t>(std::min<std::uint64_t>(buf.size(), end - pos));
    const core::IoResult r = core::PreadFull(fd.get(), buf.data(), want, pos);
    if (!r.ok()) return core::ErrnoStatus("cannot read " + p.string(), r.error);
    if (r.done > 0 && !sink(std::string_view(buf.data(), r.done))) {
      return core::Cancelled("cancelled");
    }
    if (r.done < want) return core::DataLoss(p.string() + ": file shrank while it was read");
    pos += r.done;
  }
  return core::Status::Ok();
}

core::Result<std::string> LocalObjectStore::Put(std::string_view key, std::string_view data,
                                                std::string_view) {
  SDXL_ASSIGN_OR_RETURN(fs::path p, PathFor(key));
  SDXL_RETURN_IF_ERROR(core::WriteFileAtomically(p, data));
  SDXL_ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
  return info.etag;
}

core::Result<std::string> LocalObjectStore::CreateMultipartUpload(std::string_view key) {
  SDXL_ASSIGN_OR_RETURN(fs::path p, PathFor(key));
  const std::string id = RandomHex(32);
  SDXL_ASSIGN_OR_RETURN(fs::path dir, UploadDir(id));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return core::ErrnoStatus("cannot create " + dir.string(), ec.value());
  SDXL_RETURN_IF_ERROR(core::WriteFileAtomically(dir / "key", key));
  return id;
}

core::Result<std::string> LocalObjectStore::UploadPart(std::string_view key,
                                                       std::string_view upload_id, int part_number,
                                                       std::string_view data) {
  if (part_number < 1 || part_number > 10000) {
    return core::InvalidArgument("part number " + std::to_string(part_number) +
                                 " is outside 1..10000");
  }
  SDXL_ASSIGN_OR_RETURN(fs::path dir, UploadDir(upload_id));
  if (!fs::exists(dir / "key")) {
    return core::NotFound("multipart upload " + std::string(upload_id) + " does not exist");
  }
  const fs::path part = dir / ("part-" + std::to_string(part_number));
  SDXL_RETURN_IF_ERROR(core::WriteFileAtomically(part, data, {.sync = false}));
  struct stat st {};
  ::stat(part.c_str(), &st);
  return EtagOf(st);
}

core::Result<std::string> LocalObjectStore::CompleteMultipartUpload(
    std::string_view key, std::string_view upload_id, std::span<const PartInfo> parts) {
  SDXL_ASSIGN_OR_RETURN(fs::path target, PathFor(key));
  SDXL_ASSIGN_OR_RETURN(fs::path dir, UploadDir(upload_id));
  if (!fs::exists(dir / "key")) {
    return core::NotFound("multipart upload " + std::string(upload_id) + " does not exist");
  }
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  SDXL_ASSIGN_OR_RETURN(core::AtomicFileWriter out, core::AtomicFileWriter::Create(target));
  int last = 0;
  std::vector<char> buf(1 << 20);
  for (const PartInfo& part : parts) {
    if (part.number <= last) return core::InvalidArgument("parts must be in ascending order");
    last = part.number;
    const fs::path pp = dir / ("part-" + std::to_string(part.number));
    struct stat pst {};
    if (::stat(pp.c_str(), &pst) != 0 || (!part.etag.empty() && part.etag != EtagOf(pst))) {
      return core::InvalidArgument("part " + std::to_string(part.number) +
                                   " is missing or its ETag does not match");
    }
    core::UniqueFd in(::open(pp.c_str(), O_RDONLY | O_CLOEXEC));
    for (;;) {
      const core::IoResult r = core::ReadFull(in.get(), buf.data(), buf.size());
      if (!r.ok()) return core::ErrnoStatus("cannot read " + pp.string(), r.error);
      SDXL_RETURN_IF_ERROR(out.Write(buf.data(), r.done));
      if (r.done < buf.size()) break;
    }
  }
  SDXL_RETURN_IF_ERROR(out.Commit());
  fs::remove_all(dir, ec);
  SDXL_ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
  return info.etag;
}

core::Status LocalObjectStore::AbortMultipartUpload(std::string_view, std::string_view upload_id) {
  SDXL_ASSIGN_OR_RETURN(fs::path dir, UploadDir(upload_id));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return core::ErrnoStatus("cannot remove " + dir.string(), ec.value());
  return core::Status::Ok();
}

core::Result<std::vector<PartInfo>> LocalObjectStore::ListParts(std::string_view,
                                                                std::string_view upload_id) {
  SDXL_ASSIGN_OR_RETURN(fs::path dir, UploadDir(upload_id));
  if (!fs::exists(dir / "key")) {
    return core::NotFound("multipart upload " + std::string(upload_id) + " does not exist");
  }
  std::vector<PartInfo> parts;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("part-")) continue;
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    parts.push_back(
        {std::atoi(name.c_str() + 5), EtagOf(st), static_cast<std::uint64_t>(st.st_size)});
  }
  std::sort(parts.begin(), parts.end(),
            [](const PartInfo& a, const PartInfo& b) { return a.number < b.number; });
  return parts;
}

core::Result<std::vector<UploadInfo>> LocalObjectStore::ListMultipartUploads(
    std::string_view prefix) {
  std::vector<UploadInfo> out;
  const fs::path uploads = root_ / std::string(kUploadsDir);
  std::error_code ec;
  if (!fs::exists(uploads, ec)) return out;
  fs::directory_iterator it(uploads, ec);
  if (ec) return core::ErrnoStatus("cannot list " + uploads.string(), ec.value());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return core::ErrnoStatus("cannot list " + uploads.string(), ec.value());
    auto key = core::ReadFile(it->path() / "key", 64 * 1024);
    if (!key.ok()) continue;  // being created or aborted right now
    if (!key->starts_with(prefix)) continue;
    UploadInfo info{std::move(*key), it->path().filename().string(), ""};
    struct stat st {};
    if (::stat((it->path() / "key").c_str(), &st) == 0) {
      info.initiated = core::FormatIso8601Utc(st.st_mtime);
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const UploadInfo& a, const UploadInfo& b) {
    return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
  });
  return out;
}

core::Result<std::vector<ObjectInfo>> LocalObjectStore::List(std::string_view prefix) {
  std::vector<ObjectInfo> out;
  std::error_code ec;
  if (!fs::exists(root_, ec)) {
    return core::NotFound(root_.string() + ": directory does not exist");
  }
  fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
  if (ec) return core::ErrnoStatus("cannot list " + root_.string(), ec.value());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return core::ErrnoStatus("cannot list " + root_.string(), ec.value());
    const auto& entry = *it;
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name == kUploadsDir && it.depth() == 0) {
      it.disable_recursion_pending();
      continue;
    }
    if (!entry.is_regular_file() || name.find(kTempMarker) != std::string::npos) continue;
    std::string key = entry.path().lexically_relative(root_).generic_string();
    if (!key.starts_with(prefix)) continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    out.push_back({std::move(key), static_cast<std::uint64_t>(st.st_size), EtagOf(st), ""});
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

core::Status LocalObjectStore::Delete(std::string_view key) {
  SDXL_ASSIGN_OR_RETURN(fs::path p, PathFor(key));
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
    return core::ErrnoStatus("cannot delete " + p.string(), errno);
  }
  return core::Status::Ok();
}

core::Status LocalObjectStore::CreateBucket() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return core::ErrnoStatus("cannot create " + root_.string(), ec.value());
  return core::Status::Ok();
}

core::Result<std::string> LocalObjectStore::Presign(std::string_view, PresignMethod,
                                                    std::chrono::seconds) {
  return core::Status(core::Code::kUnimplemented,
                      "presigned URLs need an s3:// location, not a local directory");
}

}  // namespace sdxl::storage
