#include "weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "weights/strict_json.h"

namespace sdxl::weights {
namespace {

using core::DataLoss;
using core::Result;
using core::Status;
using nlohmann::json;

Status HeaderError(std::string message) { return DataLoss("invalid safetensors header: " + message); }

std::string Quote(std::string_view name) { return "'" + PrintableForError(name) + "'"; }

Result<std::uint64_t> UnsignedField(const json& v, std::string_view what, std::string_view name) {
  if (!v.is_number_unsigned()) {
    return HeaderError("tensor " + Quote(name) + ": " + std::string(what) +
                       " must be a non-negative integer, got " + v.dump());
  }
  return v.get<std::uint64_t>();
}

Result<TensorInfo> ParseTensorEntry(const std::string& name, const json& v) {
  if (!v.is_object()) return HeaderError("tensor " + Quote(name) + " is not a JSON object");
  TensorInfo info;
  info.name = name;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  for (const auto& [key, field] : v.items()) {
    if (key == "dtype") {
      if (!field.is_string()) return HeaderError("tensor " + Quote(name) + ": dtype is not a string");
      auto dt = ParseDType(field.get_ref<const std::string&>());
      if (!dt) {
        return HeaderError("tensor " + Quote(name) + ": unknown dtype \"" +
                           PrintableForError(field.get_ref<const std::string&>()) +
                           "\"");
      }
      info.dtype = *dt;
      have_dtype = true;
    } else if (key == "shape") {
      if (!field.is_array()) return HeaderError("tensor " + Quote(name) + ": shape is not an array");
      for (const json& d : field) {
        SDXL_ASSIGN_OR_RETURN(std::uint64_t dim, UnsignedField(d, "every shape dimension", name));
        info.shape.push_back(dim);
      }
      have_shape = true;
    } else if (key == "data_offsets") {
      if (!field.is_array() || field.size() != 2) {
        return HeaderError("tensor " + Quote(name) + ": data_offsets must be [begin, end]");
      }
      SDXL_ASSIGN_OR_RETURN(info.data_begin, UnsignedField(field[0], "data_offsets", name));
      SDXL_ASSIGN_OR_RETURN(info.data_end, UnsignedField(field[1], "data_offsets", name));
      have_offsets = true;
    } else {
      return HeaderError("tensor " + Quote(name) + ": unexpected field \"" +
                         PrintableForError(key) + "\"");
    }
  }
  if (!have_dtype || !have_shape || !have_offsets) {
    return HeaderError("tensor " + Quote(name) + ": missing " +
                       (!have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets"));
  }
  return info;
}

// Checks each tensor's size against dtype x shape, sorts by offset and checks that the tensors
// tile [0, data_size) exactly. Returns data_size.
Result<std::uint64_t> ValidateLayout(std::vector<TensorInfo>& tensors) {
  for (TensorInfo& t : tensors) {
    auto n = NumElements(t.shape);
    if (!n.ok()) return HeaderError("tensor " + Quote(t.name) + ": " + n.status().message());
    t.num_elements = *n;
    auto bytes = ByteSizeFor(t.dtype, t.num_elements);
    if (!bytes.ok()) return HeaderError("tensor " + Quote(t.name) + ": " + bytes.status().message());
    if (t.data_end < t.data_begin) {
      return HeaderError("tensor " + Quote(t.name) + ": data_offsets end " +
                         std::to_string(t.data_end) + " is before begin " +
                         std::to_string(t.data_begin));
    }
    if (t.data_end - t.data_begin != *bytes) {
      return HeaderError("tensor " + Quote(t.name) + ": data_offsets [" +
                         std::to_string(t.data_begin) + ", " + std::to_string(t.data_end) +
                         ") hold " + std::to_string(t.data_end - t.data_begin) + " bytes but " +
                         std::string(DTypeName(t.dtype)) + " shape needs " +
                         std::to_string(*bytes));
    }
  }
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.data_begin, a.data_end, a.name) < std::tie(b.data_begin, b.data_end, b.name);
  });
  std::uint64_t expected = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    if (i > 0 && t.name == tensors[i - 1].name) {
      return HeaderError("duplicate tensor name " + Quote(t.name));
    }
    if (t.data_begin != expected) {
      return HeaderError("tensor " + Quote(t.name) + " starts at " + std::to_string(t.data_begin) +
                         " but the previous tensor ends at " + std::to_string(expected) +
                         ": tensors must cover the data section with no gaps or overlaps");
    }
    expected = t.data_end;
  }
  return expected;
}

}  // namespace

const TensorInfo* SafetensorsHeader::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<SafetensorsHeader> SafetensorsHeader::FromTensors(
    std::uint64_t header_size, std::vector<TensorInfo> tensors,
    std::map<std::string, std::string> metadata) {
  if (header_size > kMaxSafetensorsHeaderSize) {
    return HeaderError("header length " + std::to_string(header_size) + " exceeds the " +
                       std::to_string(kMaxSafetensorsHeaderSize) + "-byte limit");
  }
  SDXL_ASSIGN_OR_RETURN(std::uint64_t data_size, ValidateLayout(tensors));
  if (data_size > UINT64_MAX - 8 - header_size) return HeaderError("file size overflows 64 bits");
  SafetensorsHeader h;
  h.header_size_ = header_size;
  h.data_size_ = data_size;
  h.tensors_ = std::move(tensors);
  h.metadata_ = std::move(metadata);
  for (size_t i = 0; i < h.tensors_.size(); ++i) {
    if (!h.index_.emplace(h.tensors_[i].name, i).second) {
      return HeaderError("duplicate tensor name " + Quote(h.tensors_[i].name));
    }
  }
  return h;
}

Result<std::uint64_t> ReadSafetensorsHeaderSize(std::span<const std::byte> prefix) {
  if (prefix.size() < 8) {
    return DataLoss("not a safetensors file: " + std::to_string(prefix.size()) +
                    " bytes is shorter than the 8-byte header length prefix");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(prefix[i]);
  if (n > kMaxSafetensorsHeaderSize) {
    return HeaderError("header length " + std::to_string(n) + " exceeds the " +
                       std::to_string(kMaxSafetensorsHeaderSize) +
                       "-byte limit (not a safetensors file, or corrupt)");
  }
  return n;
}

Result<SafetensorsHeader> ParseSafetensorsHeader(std::span<const std::byte> prefix,
                                                 std::uint64_t file_size) {
  SDXL_ASSIGN_OR_RETURN(std::uint64_t n, ReadSafetensorsHeaderSize(prefix));
  if (n + 8 > file_size) {
    return HeaderError("header length " + std::to_string(n) + " runs past the end of the " +
                       std::to_string(file_size) + "-byte file (truncated or not safetensors)");
  }
  if (prefix.size() < n + 8) {
    return core::InvalidArgument("ParseSafetensorsHeader needs the first " + std::to_string(n + 8) +
                                 " bytes of the file, got " + std::to_string(prefix.size()));
  }
  const char* text = reinterpret_cast<const char*>(prefix.data() + 8);
  auto doc = ParseStrictJson(std::string_view(text, n), /*max_depth=*/8);
  if (!doc.ok()) return HeaderError(doc.status().message());
  json& root = *doc;
  if (!root.is_object()) return HeaderError("the header is not a JSON object");

  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  tensors.reserve(root.size());
  for (auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) return HeaderError("__metadata__ must be an object of strings");
      for (auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          return HeaderError("__metadata__ value for \"" + PrintableForError(mk) +
                             "\" is not a string (safetensors allows only string values)");
        }
        metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    SDXL_ASSIGN_OR_RETURN(TensorInfo info, ParseTensorEntry(key, value));
    tensors.push_back(std::move(info));
  }
  SDXL_ASSIGN_OR_RETURN(SafetensorsHeader header,
                        SafetensorsHeader::FromTensors(n, std::move(tensors), std::move(metadata)));
  if (header.file_size() != file_size) {
    return HeaderError("file is " + std::to_string(file_size) + " bytes but the header describes " +
                       std::to_string(header.file_size()) +
                       (file_size > header.file_size() ? " (trailing bytes after the last tensor)"
                                                       : " (file truncated)"));
  }
  return header;
}

// ---- SafetensorsFile ----

Result<SafetensorsFile> SafetensorsFile::Open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Status(err == ENOENT ? core::Code::kNotFound : core::Code::kPermissionDenied,
                  "cannot open " + path.string() + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return core::InvalidArgument(path.string() + " is not a regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return DataLoss(path.string() + ": not a safetensors file (" + std::to_string(size) +
                    " bytes, shorter than the 8-byte header length)");
  }
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    return core::Internal("cannot mmap " + path.string() + ": " + std::strerror(map_err));
  }
  SafetensorsFile file;
  file.path_ = path;
  file.base_ = static_cast<const std::byte*>(base);
  file.size_ = size;
  auto header = ParseSafetensorsHeader(file.bytes(), size);
  if (!header.ok()) return header.status().Annotate(path.string());
  file.header_ = std::move(header).value();
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      header_(std::move(other.header_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (base_) ::munmap(const_cast<std::byte*>(base_), size_);
    path_ = std::move(other.path_);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    header_ = std::move(other.header_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (base_) ::munmap(const_cast<std::byte*>(base_), size_);
}

std::span<const std::byte> SafetensorsFile::Data(const TensorInfo& info) const {
  return bytes().subspan(header_.data_offset() + info.data_begin, info.byte_size());
}

Result<std::span<const std::byte>> SafetensorsFile::Data(std::string_view name) const {
  const TensorInfo* info = header_.Find(name);
  if (!info) {
    return core::NotFound("tensor '" + std::string(name) + "' not found in " + path_.string());
  }
  return Data(*info);
}

Result<std::string> SerializeSafetensorsHeader(const std::vector<TensorInfo>& tensors,
                                               const std::map<std::string, std::string>& metadata) {
  std::string out = "{";
  try {
    auto str = [](const std::string& s) { return json(s).dump(); };
    if (!metadata.empty()) {
      out += "\"__metadata__\":{";
      bool first = true;
      for (const auto& [k, v] : metadata) {
        if (!first) out += ',';
        first = false;
        out += str(k) + ':' + str(v);
      }
      out += '}';
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorInfo& t = tensors[i];
      if (t.name == "__metadata__") {
        return core::InvalidArgument("a tensor cannot be named __metadata__");
      }
      if (out.size() > 1) out += ',';
      out += str(t.name) + ":{\"dtype\":\"" + std::string(DTypeName(t.dtype)) + "\",\"shape\":[";
      for (size_t d = 0; d < t.shape.size(); ++d) {
        if (d) out += ',';
        out += std::to_string(t.shape[d]);
      }
      out += "],\"data_offsets\":[" + std::to_string(t.data_begin) + ',' +
             std::to_string(t.data_end) + "]}";
    }
  } catch (const json::exception& e) {
    return core::InvalidArgument(std::string("tensor names and metadata must be valid UTF-8: ") +
                                 e.what());
  }
  out += '}';
  out.append((8 - out.size() % 8) % 8, ' ');
  if (out.size() > kMaxSafetensorsHeaderSize) {
    return core::InvalidArgument("safetensors header would be " + std::to_string(out.size()) +
                                 " bytes, over the " + std::to_string(kMaxSafetensorsHeaderSize) +
                                 "-byte limit readers accept");
  }
  std::string prefix(8, '\0');
  std::uint64_t n = out.size();
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return prefix + out;
}

}  // namespace sdxl::weights
