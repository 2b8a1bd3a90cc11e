#include "loader/cache_state.h"

#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>

namespace sdxl::loader {
namespace {

constexpr int kStateVersion = 1;

std::int64_t Nanos(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

}  // namespace

core::Result<std::optional<FileStamp>> StampOf(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<FileStamp>();
    return core::ErrnoStatus("cannot stat " + path.string(), errno);
  }
  if (!S_ISREG(st.st_mode)) return std::optional<FileStamp>();
  FileStamp s;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.device = static_cast<std::uint64_t>(st.st_dev);
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  s.mtime_ns = Nanos(st.st_mtim);
  s.ctime_ns = Nanos(st.st_ctim);
  return std::optional<FileStamp>(s);
}

std::string CacheStateToJson(const CacheState& state) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, f] : state.files) {
    files[path] = {{"size", f.size},
                   {"etag", f.etag},
                   {"sha256", f.sha256},
                   {"stamp",
                    {{"size", f.stamp.size},
                     {"dev", f.stamp.device},
                     {"ino", f.stamp.inode},
                     {"mtime_ns", f.stamp.mtime_ns},
                     {"ctime_ns", f.stamp.ctime_ns}}}};
  }
  nlohmann::json j = {{"version", kStateVersion}, {"source", state.source}, {"files", files}};
  return j.dump(1) + "\n";
}

core::Result<CacheState> ParseCacheState(std::string_view json) {
  try {
    const nlohmann::json j = nlohmann::json::parse(json);
    if (!j.is_object() || j.value("version", 0) != kStateVersion) {
      return core::DataLoss("cache state has an unknown version");
    }
    CacheState state;
    state.source = j.at("source").get<std::string>();
    for (const auto& [path, f] : j.at("files").items()) {
      CachedFile c;
      c.size = f.at("size").get<std::uint64_t>();
      c.etag = f.at("etag").get<std::string>();
      c.sha256 = f.at("sha256").get<std::string>();
      const auto& s = f.at("stamp");
      c.stamp.size = s.at("size").get<std::uint64_t>();
      c.stamp.device = s.at("dev").get<std::uint64_t>();
      c.stamp.inode = s.at("ino").get<std::uint64_t>();
      c.stamp.mtime_ns = s.at("mtime_ns").get<std::int64_t>();
      c.stamp.ctime_ns = s.at("ctime_ns").get<std::int64_t>();
      state.files.emplace(path, std::move(c));
    }
    return state;
  } catch (const nlohmann::json::exception& e) {
    return core::DataLoss(std::string("cache state is not valid: ") + e.what());
  }
}

bool IsCacheBookkeepingName(std::string_view relative_path) {
  return relative_path == kCacheStateFileName || relative_path == kCompleteMarkerName;
}

}  // namespace sdxl::loader
