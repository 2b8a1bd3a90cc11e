#include "weights/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/fd_io.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/unique_fd.h"

namespace sdxl::weights {
namespace {

using core::Result;
using core::Status;

constexpr size_t kReadBlock = 1 << 20;

Status OpenError(const std::filesystem::path& path, int err) {
  return Status(err == ENOENT ? core::Code::kNotFound : core::Code::kPermissionDenied,
                "cannot open " + path.string() + ": " + std::strerror(err));
}

Status ReadExact(int fd, std::byte* dst, size_t size, const std::filesystem::path& path) {
  const core::IoResult r = core::ReadFull(fd, dst, size);
  if (!r.ok())
    return core::DataLoss("read error in " + path.string() + ": " + std::strerror(r.error));
  if (r.done < size) return core::DataLoss(path.string() + " shrank while it was being read");
  return Status::Ok();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool IsSafeManifestPath(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.back() == '/') return false;
  if (p.find('\\') != std::string_view::npos || p.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::uint64_t NumChunks(std::uint64_t size, std::uint64_t chunk_size) {
  if (chunk_size == 0) return 0;
  return size / chunk_size + (size % chunk_size != 0 ? 1 : 0);
}

core::ByteRange FileEntry::ChunkRange(std::uint64_t index) const {
  core::ByteRange r;
  r.offset = index * chunk_size;
  r.length = std::min(size, r.offset + chunk_size) - r.offset;
  return r;
}

const FileEntry* Manifest::Find(std::string_view path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const FileEntry& e, std::string_view p) { return e.path < p; });
  if (it != files.end() && it->path == path) return &*it;
  // Tolerate an unsorted list built by hand.
  for (const FileEntry& e : files) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

std::uint64_t Manifest::total_bytes() const {
  std::uint64_t total = 0;
  for (const FileEntry& e : files) total += e.size;
  return total;
}

Result<FileEntry> BuildFileEntry(const std::filesystem::path& local_file, std::string relative_path,
                                 std::uint64_t chunk_size) {
  if (chunk_size == 0) return core::InvalidArgument("manifest chunk size must be positive");
  if (!IsSafeManifestPath(relative_path)) {
    return core::InvalidArgument("\"" + relative_path + "\" is not a safe relative path");
  }
  core::UniqueFd fd(::open(local_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return OpenError(local_file, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return core::InvalidArgument(local_file.string() + " is not a regular file");
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  FileEntry e;
  e.path = std::move(relative_path);
  e.size = static_cast<std::uint64_t>(st.st_size);
  e.chunk_size = chunk_size;
  e.chunk_xxh3.reserve(NumChunks(e.size, chunk_size));

  std::vector<std::byte> header_prefix;
  const bool is_safetensors = EndsWith(e.path, ".safetensors");
  core::Sha256 sha;
  core::Xxh3_64 chunk_hash;
  std::uint64_t in_chunk = 0;
  std::vector<std::byte> buf(static_cast<size_t>(std::min<std::uint64_t>(kReadBlock, chunk_size)));
  std::uint64_t pos = 0;
  std::uint64_t header_need = 8;  // bytes of the file's start to keep for the header parse
  while (pos < e.size) {
    const size_t want = static_cast<size_t>(
        std::min<std::uint64_t>({buf.size(), e.size - pos, chunk_size - in_chunk}));
    SDXL_RETURN_IF_ERROR(ReadExact(fd.get(), buf.data(), want, local_file));
    std::span<const std::byte> block(buf.data(), want);
    if (is_safetensors && header_prefix.size() < header_need) {
      const size_t take =
          static_cast<size_t>(std::min<std::uint64_t>(want, header_need - header_prefix.size()));
      header_prefix.insert(header_prefix.end(), block.begin(), block.begin() + take);
      if (header_prefix.size() == 8) {
        auto n = ReadSafetensorsHeaderSize(header_prefix);
        if (!n.ok()) return n.status().Annotate(local_file.string());
        header_need = 8 + *n;
        const size_t more = static_cast<size_t>(
            std::min<std::uint64_t>(want - take, header_need - header_prefix.size()));
        header_prefix.insert(header_prefix.end(), block.begin() + take,
                             block.begin() + take + more);
      }
    }
    sha.Update(block);
    chunk_hash.Update(block);
    in_chunk += want;
    pos += want;
    if (in_chunk == chunk_size || pos == e.size) {
      e.chunk_xxh3.push_back(chunk_hash.Finish());
      chunk_hash = core::Xxh3_64();
      in_chunk = 0;
    }
  }
  std::byte extra;
  if (::read(fd.get(), &extra, 1) > 0) {
    return core::DataLoss(local_file.string() + " grew while it was being hashed; retry when " +
                          "nothing is writing to it");
  }
  e.sha256 = sha.FinishHex();
  if (is_safetensors) {
    auto header = ParseSafetensorsHeader(header_prefix, e.size);
    if (!header.ok()) return header.status().Annotate(local_file.string());
    e.safetensors = std::move(header).value();
  }
  return e;
}

Result<std::vector<FileEntry>> BuildFileEntries(const std::filesystem::path& root,
                                                std::uint64_t chunk_size) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) {
    return core::NotFound(root.string() + " is not a directory");
  }
  std::vector<std::pair<std::string, std::filesystem::path>> files;
  std::filesystem::recursive_directory_iterator it(
      root, std::filesystem::directory_options::follow_directory_symlink, ec);
  if (ec) return core::PermissionDenied("cannot list " + root.string() + ": " + ec.message());
  for (auto end = std::filesystem::recursive_directory_iterator(); it != end; it.increment(ec)) {
    if (ec) return core::PermissionDenied("cannot list " + root.string() + ": " + ec.message());
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string rel = std::filesystem::relative(it->path(), root, ec).generic_string();
    if (rel == kManifestFileName) continue;
    files.emplace_back(rel, it->path());
  }
  std::sort(files.begin(), files.end());
  std::vector<FileEntry> entries;
  entries.reserve(files.size());
  for (auto& [rel, path] : files) {
    SDXL_ASSIGN_OR_RETURN(FileEntry e, BuildFileEntry(path, rel, chunk_size));
    entries.push_back(std::move(e));
  }
  return entries;
}

Status WriteManifestFile(const Manifest& manifest, const std::filesystem::path& path) {
  return core::WriteFileAtomically(path, ManifestToJson(manifest));
}

Status VerifyChunk(const FileEntry& entry, std::uint64_t index, std::span<const std::byte> bytes) {
  if (index >= entry.num_chunks()) {
    return core::InvalidArgument("chunk " + std::to_string(index) + " of " + entry.path +
                                 " does not exist (" + std::to_string(entry.num_chunks()) +
                                 " chunks)");
  }
  const core::ByteRange r = entry.ChunkRange(index);
  if (bytes.size() != r.length) {
    return Status(core::Code::kDataLoss,
                  "chunk " + std::to_string(index) + " of " + entry.path + " has " +
                      std::to_string(bytes.size()) + " bytes, expected " + std::to_string(r.length),
                  /*retryable=*/true);
  }
  const std::uint64_t got = core::Xxh3_64Of(bytes);
  if (got != entry.chunk_xxh3[index]) {
    return Status(core::Code::kDataLoss,
                  "chunk " + std::to_string(index) + " of " + entry.path + " (bytes " +
                      std::to_string(r.offset) + "-" + std::to_string(r.end() - 1) +
                      ") is corrupt: XXH3 " + core::Hex64(got) + ", manifest says " +
                      core::Hex64(entry.chunk_xxh3[index]),
                  /*retryable=*/true);
  }
  return Status::Ok();
}

Status VerifyFile(const FileEntry& entry, const std::filesystem::path& local_file) {
  core::UniqueFd fd(::open(local_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return OpenError(local_file, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return OpenError(local_file, errno);
  if (static_cast<std::uint64_t>(st.st_size) != entry.size) {
    return core::DataLoss(local_file.string() + " is " + std::to_string(st.st_size) +
                          " bytes, manifest says " + std::to_string(entry.size));
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  core::Sha256 sha;
  std::vector<std::byte> buf;
  for (std::uint64_t i = 0; i < entry.num_chunks(); ++i) {
    const core::ByteRange r = entry.ChunkRange(i);
    buf.resize(static_cast<size_t>(r.length));
    SDXL_RETURN_IF_ERROR(ReadExact(fd.get(), buf.data(), buf.size(), local_file));
    Status s = VerifyChunk(entry, i, buf);
    if (!s.ok()) return core::DataLoss(s.message() + " in " + local_file.string());
    sha.Update(buf);
  }
  const std::string got = sha.FinishHex();
  if (got != entry.sha256) {
    return core::DataLoss(local_file.string() + ": SHA-256 " + got + " does not match the " +
                          "manifest's " + entry.sha256);
  }
  return Status::Ok();
}

}  // namespace sdxl::weights
