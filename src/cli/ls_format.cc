#include "cli/ls_format.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/iso8601.h"

namespace sdxl::cli {

std::vector<LsRow> RecursiveRows(std::span<const storage::ObjectInfo> objects) {
  std::vector<LsRow> rows;
  rows.reserve(objects.size());
  for (const auto& o : objects) {
    rows.push_back({o.key, o.key, false, o.size, o.last_modified, o.etag});
  }
  return rows;
}

std::vector<LsRow> OneLevelRows(std::span<const storage::ObjectInfo> objects,
                                std::string_view folder) {
  std::vector<LsRow> prefixes;
  std::vector<LsRow> files;
  for (const auto& o : objects) {
    if (!std::string_view(o.key).starts_with(folder)) continue;
    const std::string_view rest = std::string_view(o.key).substr(folder.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      files.push_back({std::string(rest), o.key, false, o.size, o.last_modified, o.etag});
      continue;
    }
    const std::string name(rest.substr(0, slash + 1));
    if (prefixes.empty() || prefixes.back().name != name) {  // sorted keys: one row per folder
      LsRow row;
      row.name = name;
      row.key = std::string(folder) + name;
      row.prefix = true;
      prefixes.push_back(std::move(row));
    }
  }
  prefixes.insert(prefixes.end(), files.begin(), files.end());
  return prefixes;
}

std::string FormatS3Time(std::string_view iso) {
  const std::optional<std::time_t> t = core::ParseIso8601Utc(iso);
  std::tm local{};
  if (!t || localtime_r(&*t, &local) == nullptr) return std::string(iso);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

std::string HumanSize(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " Byte" : " Bytes");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (v >= 1024.0 && unit < 5) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string LsLine(const LsRow& row, bool human_readable) {
  if (row.prefix) return std::string(27, ' ') + "PRE " + row.name;
  const std::string size = human_readable ? HumanSize(row.size) : std::to_string(row.size);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s %10s ", FormatS3Time(row.last_modified).c_str(),
                size.c_str());
  return buf + row.name;
}

std::string LsJson(const LsRow& row) {
  nlohmann::ordered_json j;
  if (row.prefix) {
    j["prefix"] = row.key;
  } else {
    j["key"] = row.key;
    j["size"] = row.size;
    j["last_modified"] = row.last_modified;
    j["etag"] = row.etag;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string BucketLine(const storage::BucketInfo& bucket) {
  return FormatS3Time(bucket.creation_date) + " " + bucket.name;
}

std::string BucketJson(const storage::BucketInfo& bucket) {
  nlohmann::ordered_json j;
  j["bucket"] = bucket.name;
  j["creation_date"] = bucket.creation_date;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string SummaryText(std::size_t objects, std::uint64_t bytes, bool human_readable) {
  return "\nTotal Objects: " + std::to_string(objects) +
         "\n   Total Size: " + (human_readable ? HumanSize(bytes) : std::to_string(bytes));
}

std::string SummaryJson(std::size_t objects, std::uint64_t bytes) {
  nlohmann::ordered_json j;
  j["total_objects"] = objects;
  j["total_size"] = bytes;
  return j.dump();
}

}  // namespace sdxl::cli
