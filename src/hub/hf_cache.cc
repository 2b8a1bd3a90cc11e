#include "hub/hf_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/file_util.h"

namespace sdxl::hub {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kCacheHint =
    " (check free space and permissions of the Hugging Face cache, HF_HOME / HF_HUB_CACHE)";

core::Status IoError(const std::string& what, const fs::path& p, int err) {
  return core::Status(core::Code::kUnavailable, what + " " + p.string() + ": " +
                                                    std::strerror(err) + std::string(kCacheHint));
}

bool IsHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

core::Result<FileLock> FileLock::Acquire(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open lock file", path, errno);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return IoError("cannot lock", path, err);
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

fs::path HfCache::RepoDir(std::string_view repo_id) const {
  return root_ / RepoFolderName(repo_id);
}

fs::path HfCache::BlobPath(std::string_view repo_id, std::string_view etag) const {
  return RepoDir(repo_id) / "blobs" / std::string(etag);
}

fs::path HfCache::IncompletePath(std::string_view repo_id, std::string_view etag) const {
  return RepoDir(repo_id) / "blobs" / (std::string(etag) + ".incomplete");
}

fs::path HfCache::LockPath(std::string_view repo_id, std::string_view etag) const {
  return root_ / ".locks" / RepoFolderName(repo_id) / (std::string(etag) + ".lock");
}

fs::path HfCache::SnapshotDir(std::string_view repo_id, std::string_view commit) const {
  return RepoDir(repo_id) / "snapshots" / std::string(commit);
}

std::optional<std::string> HfCache::ReadRef(std::string_view repo_id,
                                            std::string_view revision) const {
  std::ifstream in(RepoDir(repo_id) / "refs" / std::string(revision));
  std::string commit;
  if (!(in >> commit) || !IsHex(commit, 40)) return std::nullopt;
  return commit;
}

core::Status HfCache::WriteRef(std::string_view repo_id, std::string_view revision,
                               std::string_view commit) const {
  if (revision == commit) return core::Status::Ok();
  const fs::path ref = RepoDir(repo_id) / "refs" / std::string(revision);
  const core::Status st = core::WriteFileAtomically(ref, commit);
  if (st.ok()) return st;
  return core::Status(core::Code::kUnavailable, st.message() + std::string(kCacheHint));
}

core::Status HfCache::LinkSnapshot(std::string_view repo_id, std::string_view commit,
                                   const RepoFile& file) const {
  fs::path link = SnapshotDir(repo_id, commit) / file.path;
  // ../../blobs/<etag> plus one ../ per directory level of the path.
  std::string target = "../../blobs/" + file.etag();
  for (char c : file.path) {
    if (c == '/') target = "../" + target;
  }
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return IoError("cannot create", link.parent_path(), ec.value());
  if (fs::is_symlink(link, ec)) {
    if (fs::read_symlink(link, ec) == fs::path(target)) return core::Status::Ok();
  }
  const fs::path tmp = core::TempPathFor(link);
  fs::create_symlink(target, tmp, ec);
  if (ec) return IoError("cannot create symlink", tmp, ec.value());
  fs::rename(tmp, link, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return IoError("cannot rename symlink onto", link, ec.value());
  }
  return core::Status::Ok();
}

std::optional<fs::path> HfCache::Find(std::string_view repo_id, std::string_view commit,
                                      const RepoFile& file) const {
  if (file.etag().empty()) return std::nullopt;
  std::error_code ec;
  fs::path blob = BlobPath(repo_id, file.etag());
  auto size = fs::file_size(blob, ec);
  if (ec || size != file.size) return std::nullopt;
  if (!LinkSnapshot(repo_id, commit, file).ok()) return std::nullopt;
  return SnapshotDir(repo_id, commit) / file.path;
}

core::Result<std::vector<RepoFile>> HfCache::ListSnapshot(std::string_view repo_id,
                                                          std::string_view commit) const {
  fs::path dir = SnapshotDir(repo_id, commit);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return core::NotFound("repo '" + std::string(repo_id) + "' at commit " + std::string(commit) +
                          " is not in the Hugging Face cache " + root_.string() +
                          ": unset HF_HUB_OFFLINE to download it");
  }
  std::vector<RepoFile> out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory()) continue;
    RepoFile f;
    f.path = it->path().lexically_relative(dir).generic_string();
    f.size = fs::file_size(it->path(), ec);
    if (ec) continue;  // dangling link: blob missing
    std::string name = it->is_symlink() ? fs::read_symlink(it->path()).filename().string() : "";
    if (IsHex(name, 64)) {
      f.lfs_sha256 = name;
    } else {
      f.oid = name;
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace sdxl::hub
