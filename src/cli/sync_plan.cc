#include "cli/sync_plan.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unordered_map>

#include "core/iso8601.h"

namespace sdxl::cli {

std::optional<std::int64_t> ParseS3Time(std::string_view text) {
  if (const auto iso = core::ParseIso8601Utc(text)) return static_cast<std::int64_t>(*iso);
  // HTTP-date (RFC 7231 IMF-fixdate), what HEAD answers: "Wed, 01 May 2024 12:00:00 GMT".
  const std::string s(text);
  int year = 0, day = 0, hour = 0, min = 0, sec = 0;
  char month[4] = {};
  char zone[4] = {};
  if (std::sscanf(s.c_str(), "%*3s, %2d %3s %4d %2d:%2d:%2d %3s", &day, month, &year, &hour, &min,
                  &sec, zone) != 7 ||
      std::strcmp(zone, "GMT") != 0) {
    return std::nullopt;
  }
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int mon = 0;
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(month, kMonths[i]) == 0) mon = i + 1;
  }
  if (mon == 0) return std::nullopt;
  char iso[40];
  std::snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02dZ", year, mon, day, hour, min, sec);
  const auto t = core::ParseIso8601Utc(iso);  // the one range check
  if (!t) return std::nullopt;
  return static_cast<std::int64_t>(*t);
}

core::Status SetMtimeFromLastModified(const std::filesystem::path& file,
                                      std::string_view last_modified) {
  const auto seconds = ParseS3Time(last_modified);
  if (!seconds) return core::Status::Ok();
  struct timespec times[2] = {};
  times[0].tv_nsec = UTIME_NOW;  // atime: now
  times[1].tv_sec = static_cast<std::time_t>(*seconds);
  if (::utimensat(AT_FDCWD, file.c_str(), times, 0) != 0) {
    return core::ErrnoStatus("cannot set the modification time of " + file.string(), errno);
  }
  return core::Status::Ok();
}

bool NeedsCopy(SyncDirection direction, SyncCompare compare, const SyncEntry& source,
               const SyncEntry& destination) {
  if (source.size != destination.size) return true;
  if (compare == SyncCompare::kSizeOnly) return false;
  if (!source.mtime || !destination.mtime) return true;
  if (compare == SyncCompare::kExactTimestamps && direction == SyncDirection::kDownload) {
    return *source.mtime != *destination.mtime;
  }
  return *source.mtime > *destination.mtime;
}

SyncPlan PlanSync(SyncDirection direction, SyncCompare compare, std::span<const SyncEntry> source,
                  std::span<const SyncEntry> destination, bool delete_extra) {
  std::unordered_map<std::string_view, std::size_t> dest_index;
  dest_index.reserve(destination.size());
  for (std::size_t i = 0; i < destination.size(); ++i) dest_index[destination[i].relative] = i;
  SyncPlan plan;
  std::unordered_map<std::string_view, bool> in_source;
  in_source.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    in_source[source[i].relative] = true;
    const auto it = dest_index.find(source[i].relative);
    if (it == dest_index.end() ||
        NeedsCopy(direction, compare, source[i], destination[it->second])) {
      plan.copies.push_back(i);
    }
  }
  if (delete_extra) {
    for (std::size_t i = 0; i < destination.size(); ++i) {
      if (!in_source.contains(destination[i].relative)) plan.deletes.push_back(i);
    }
  }
  return plan;
}

}  // namespace sdxl::cli
