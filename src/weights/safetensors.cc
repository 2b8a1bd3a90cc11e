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

Status HeaderError(std::string message) {
  return DataLoss("invalid safetensors header: " + message);
}

std::string Quote(std::string_view name) { return "'" + PrintableForError(name) + "'"; }

// Streams the header JSON straight into TensorInfo records, with no DOM in between: memory stays
// proportional to the tensors (a 100 MB header of tiny tensors would need GBs as a DOM), and
// the fixed schema means no nesting deeper than 3 is ever accepted.
class HeaderSax : public nlohmann::json_sax<json> {
 public:
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  std::string error;

  bool null() override {
    if (state_ == State::kMetaValue) {  // "__metadata__": null means no metadata
      state_ = State::kRoot;
      return true;
    }
    return TypeError("null");
  }
  bool boolean(bool v) override { return TypeError(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return TypeError(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& raw) override { return TypeError(raw); }
  bool binary(binary_t&) override { return TypeError("binary"); }
  bool number_unsigned(number_unsigned_t v) override {
    if (state_ == State::kShape) {
      cur_.shape.push_back(v);
      return true;
    }
    if (state_ == State::kOffsets) {
      if (offsets_seen_ == 2) return Fail(Tensor() + ": data_offsets must be [begin, end]");
      (offsets_seen_++ == 0 ? cur_.data_begin : cur_.data_end) = v;
      return true;
    }
    return TypeError(std::to_string(v));
  }
  bool string(string_t& v) override {
    if (state_ == State::kMetaEntry) {
      metadata.emplace(std::move(meta_key_), std::move(v));
      state_ = State::kMeta;
      return true;
    }
    if (state_ == State::kDtype) {
      auto dt = ParseDType(v);
      if (!dt) return Fail(Tensor() + ": unknown dtype \"" + PrintableForError(v) + "\"");
      cur_.dtype = *dt;
      state_ = State::kTensor;
      return true;
    }
    return TypeError("\"" + PrintableForError(v) + "\"");
  }
  bool start_object(std::size_t) override {
    switch (state_) {
      case State::kStart:
        state_ = State::kRoot;
        return true;
      case State::kMetaValue:
        state_ = State::kMeta;
        return true;
      case State::kTensorValue:
        have_dtype_ = have_shape_ = have_offsets_ = false;
        state_ = State::kTensor;
        return true;
      default:
        return TypeError("an object");
    }
  }
  bool end_object() override {
    switch (state_) {
      case State::kRoot:
        state_ = State::kDone;
        return true;
      case State::kMeta:
        state_ = State::kRoot;
        return true;
      case State::kTensor:
        if (!have_dtype_ || !have_shape_ || !have_offsets_) {
          return Fail(Tensor() + ": missing " +
                      (!have_dtype_   ? "dtype"
                       : !have_shape_ ? "shape"
                                      : "data_offsets"));
        }
        tensors.push_back(std::move(cur_));
        cur_ = TensorInfo();
        state_ = State::kRoot;
        return true;
      default:
        return Fail("unexpected end of object");
    }
  }
  bool start_array(std::size_t) override {
    if (state_ == State::kShapeStart) {
      state_ = State::kShape;
      return true;
    }
    if (state_ == State::kOffsetsStart) {
      offsets_seen_ = 0;
      state_ = State::kOffsets;
      return true;
    }
    return TypeError("an array");
  }
  bool end_array() override {
    if (state_ == State::kShape) {
      have_shape_ = true;
      state_ = State::kTensor;
      return true;
    }
    if (state_ == State::kOffsets && offsets_seen_ == 2) {
      have_offsets_ = true;
      state_ = State::kTensor;
      return true;
    }
    if (state_ == State::kOffsets) return Fail(Tensor() + ": data_offsets must be [begin, end]");
    return Fail("unexpected end of array");
  }
  bool key(string_t& k) override {
    if (state_ == State::kRoot) {
      if (k == "__metadata__") {
        if (seen_metadata_) return Fail("duplicate key \"__metadata__\"");
        seen_metadata_ = true;
        state_ = State::kMetaValue;
        return true;
      }
      cur_.name = std::move(k);
      state_ = State::kTensorValue;
      return true;
    }
    if (state_ == State::kMeta) {
      if (metadata.count(k)) return Fail("duplicate key \"" + PrintableForError(k) + "\"");
      meta_key_ = std::move(k);
      state_ = State::kMetaEntry;
      return true;
    }
    // state_ == kTensor: one of the three fields, each at most once.
    bool* seen = k == "dtype"          ? &have_dtype_
                 : k == "shape"        ? &have_shape_
                 : k == "data_offsets" ? &have_offsets_
                                       : nullptr;
    if (!seen) return Fail(Tensor() + ": unexpected field \"" + PrintableForError(k) + "\"");
    if (*seen || (seen == &have_shape_ && !cur_.shape.empty())) {
      return Fail(Tensor() + ": duplicate key \"" + k + "\"");
    }
    state_ = seen == &have_dtype_   ? State::kDtype
             : seen == &have_shape_ ? State::kShapeStart
                                    : State::kOffsetsStart;
    if (seen == &have_dtype_) have_dtype_ = true;  // shape/offsets are marked when complete
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    return Fail(JsonParseErrorMessage(position, ex));
  }

  bool done() const { return state_ == State::kDone; }

 private:
  enum class State {
    kStart,         // before the top-level object
    kRoot,          // in the top-level object: a key or its end
    kMetaValue,     // after "__metadata__": null or an object
    kMeta,          // in __metadata__: a key or its end
    kMetaEntry,     // after a metadata key: a string
    kTensorValue,   // after a tensor name: an object
    kTensor,        // in a tensor object: a field name or its end
    kDtype,         // a dtype string
    kShapeStart,    // the shape array
    kShape,         // shape entries
    kOffsetsStart,  // the data_offsets array
    kOffsets,       // two offsets
    kDone,
  };

  std::string Tensor() const { return "tensor " + Quote(cur_.name); }

  bool Fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  // A value of the wrong type (`got`) for the current position.
  bool TypeError(const std::string& got) {
    switch (state_) {
      case State::kStart:
        return Fail("the header is not a JSON object");
      case State::kMetaValue:
        return Fail("__metadata__ must be an object of strings");
      case State::kMetaEntry:
        return Fail("__metadata__ value for \"" + PrintableForError(meta_key_) +
                    "\" is not a string (safetensors allows only string values)");
      case State::kTensorValue:
        return Fail(Tensor() + " is not a JSON object");
      case State::kDtype:
        return Fail(Tensor() + ": dtype is not a string");
      case State::kShapeStart:
        return Fail(Tensor() + ": shape is not an array");
      case State::kShape:
        return Fail(Tensor() + ": every shape dimension must be a non-negative integer, got " +
                    PrintableForError(got));
      case State::kOffsetsStart:
        return Fail(Tensor() + ": data_offsets must be [begin, end]");
      case State::kOffsets:
        return Fail(Tensor() + ": data_offsets must be non-negative integers, got " +
                    PrintableForError(got));
      default:
        return Fail("unexpected JSON value " + PrintableForError(got));
    }
  }

  State state_ = State::kStart;
  TensorInfo cur_;
  std::string meta_key_;
  bool seen_metadata_ = false;
  bool have_dtype_ = false, have_shape_ = false, have_offsets_ = false;
  int offsets_seen_ = 0;
};

// Checks each tensor's size against dtype x shape, sorts by offset and checks that the tensors
// tile [0, data_size) exactly. Returns data_size.
Result<std::uint64_t> ValidateLayout(std::vector<TensorInfo>& tensors) {
  for (TensorInfo& t : tensors) {
    auto n = NumElements(t.shape);
    if (!n.ok()) return HeaderError("tensor " + Quote(t.name) + ": " + n.status().message());
    t.num_elements = *n;
    auto bytes = ByteSizeFor(t.dtype, t.num_elements);
    if (!bytes.ok())
      return HeaderError("tensor " + Quote(t.name) + ": " + bytes.status().message());
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
  const std::string_view text(reinterpret_cast<const char*>(prefix.data() + 8), n);
  // nlohmann's lexer treats a NUL byte as the end of input; JSON never contains a raw NUL.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return HeaderError("invalid JSON at byte " + std::to_string(nul) + ": NUL byte");
  }
  HeaderSax sax;
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json,
                             /*strict=*/true,
                             /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    return HeaderError(std::string("JSON parser failed: ") + e.what());
  }
  if (!parsed || !sax.done()) return HeaderError(sax.error.empty() ? "invalid JSON" : sax.error);
  std::vector<TensorInfo> tensors = std::move(sax.tensors);
  std::map<std::string, std::string> metadata = std::move(sax.metadata);
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
