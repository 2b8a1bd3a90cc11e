#include "storage/object_store.h"

#include <cstring>
#include <filesystem>

#include "storage/local_object_store.h"
#include "storage/s3_object_store.h"

namespace sdxl::storage {

core::Status ObjectStore::ReadRange(std::string_view key, std::uint64_t offset, std::span<char> out,
                                    const ReadOptions& options) {
  std::size_t filled = 0;
  // `out` itself is lent to the store, so S3 reads land in it without a copy.
  http::BodyBuffer lend;
  lend.space = [&] { return out.subspan(filled); };
  lend.commit = [&](std::size_t n) {
    if (filled + n > out.size()) return false;
    filled += n;
    return true;
  };
  ReadOptions with_buffer = options;
  with_buffer.buffer = &lend;
  auto st = GetRange(
      key, offset, out.size(),
      [&](std::string_view chunk) {
        if (filled + chunk.size() > out.size()) return false;
        std::memcpy(out.data() + filled, chunk.data(), chunk.size());
        filled += chunk.size();
        return true;
      },
      with_buffer);
  SDXL_RETURN_IF_ERROR(st);
  if (filled != out.size()) {
    return core::DataLoss(DescribeKey(key) + ": short read (" + std::to_string(filled) + " of " +
                          std::to_string(out.size()) + " bytes)");
  }
  return core::Status::Ok();
}

core::Result<std::string> ObjectStore::GetObject(std::string_view key, const ReadOptions& options) {
  std::string data;
  SDXL_RETURN_IF_ERROR(GetRange(
      key, 0, std::nullopt,
      [&](std::string_view chunk) {
        data.append(chunk);
        return true;
      },
      options));
  return data;
}

core::Status ObjectStore::DeleteMany(std::span<const std::string> keys) {
  for (const auto& k : keys) SDXL_RETURN_IF_ERROR(Delete(k));
  return core::Status::Ok();
}

core::Result<Location> ParseLocation(std::string_view text) {
  Location loc;
  if (text.empty())
    return core::InvalidArgument("empty location; give s3://BUCKET[/PREFIX] or a path");
  if (text.starts_with("s3://") || text.starts_with("S3://")) {
    std::string_view rest = text.substr(5);
    const size_t slash = rest.find('/');
    loc.kind = Location::Kind::kS3;
    loc.bucket = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) loc.prefix = std::string(rest.substr(slash + 1));
    if (loc.bucket.empty()) {
      return core::InvalidArgument("\"" + std::string(text) +
                                   "\" names no bucket; write s3://BUCKET[/KEY]");
    }
    return loc;
  }
  if (text.starts_with("file://")) {
    loc.path = std::string(text.substr(7));
    if (loc.path.empty())
      return core::InvalidArgument("\"" + std::string(text) + "\" names no path");
    return loc;
  }
  if (text.find("://") != std::string_view::npos) {
    return core::InvalidArgument("unsupported location \"" + std::string(text) +
                                 "\"; use s3://BUCKET[/PREFIX], file://PATH or a local path");
  }
  std::error_code ec;
  const bool looks_local = text.find('/') != std::string_view::npos || text.front() == '.' ||
                           text.front() == '~' || std::filesystem::exists(std::string(text), ec);
  if (looks_local) {
    loc.path = std::string(text);
    return loc;
  }
  loc.kind = Location::Kind::kS3;
  loc.bucket = std::string(text);
  return loc;
}

core::Result<std::unique_ptr<ObjectStore>> OpenObjectStore(std::string_view location,
                                                           const S3Config& config) {
  SDXL_ASSIGN_OR_RETURN(Location loc, ParseLocation(location));
  if (loc.kind == Location::Kind::kLocal) {
    return std::unique_ptr<ObjectStore>(std::make_unique<LocalObjectStore>(loc.path));
  }
  SDXL_ASSIGN_OR_RETURN(auto store, S3ObjectStore::Create(config, loc.bucket, loc.prefix));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace sdxl::storage
