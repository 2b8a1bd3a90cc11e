// SafetensorsWriter: atomic, streaming safetensors output (see safetensors.h).
#include <algorithm>
#include <optional>

#include "core/file_util.h"
#include "weights/safetensors.h"

namespace sdxl::weights {
namespace {

using core::Result;
using core::Status;

}  // namespace

struct SafetensorsWriter::Impl {
  std::filesystem::path path;
  std::optional<core::AtomicFileWriter> file;  // the temporary file until Finish()
  SafetensorsWriterOptions options;
  SafetensorsHeader header;
  std::string header_bytes;
  std::vector<char> buffer;
  size_t current = 0;              // index into header.tensors() of the tensor being written
  std::uint64_t current_done = 0;  // bytes of it written so far
  Status broken;                   // first I/O error; every later call returns it
  bool finished = false;

  Status Flush() {
    if (buffer.empty()) return Status::Ok();
    Status s = file->Write(buffer.data(), buffer.size());
    buffer.clear();
    if (!s.ok()) broken = s;
    return s;
  }

  Status Append(std::span<const std::byte> bytes) {
    const char* p = reinterpret_cast<const char*>(bytes.data());
    size_t n = bytes.size();
    if (buffer.size() + n > options.buffer_size) {
      SDXL_RETURN_IF_ERROR(Flush());
      if (n >= options.buffer_size) {  // large pieces bypass the buffer
        Status s = file->Write(p, n);
        if (!s.ok()) broken = s;
        return s;
      }
    }
    buffer.insert(buffer.end(), p, p + n);
    return Status::Ok();
  }

  void SkipCompleted() {
    const auto& ts = header.tensors();
    while (current < ts.size() && current_done == ts[current].byte_size()) {
      ++current;
      current_done = 0;
    }
  }
};

SafetensorsWriter::SafetensorsWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsWriter::SafetensorsWriter(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter& SafetensorsWriter::operator=(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter::~SafetensorsWriter() = default;

const SafetensorsHeader& SafetensorsWriter::layout() const { return impl_->header; }
const std::string& SafetensorsWriter::header_bytes() const { return impl_->header_bytes; }

Result<SafetensorsWriter> SafetensorsWriter::Create(const std::filesystem::path& path,
                                                    std::vector<TensorSpec> specs,
                                                    std::map<std::string, std::string> metadata,
                                                    SafetensorsWriterOptions options) {
  if (options.reference_order) {
    // The reference writer's order: larger-alignment dtypes first, then by name (bytewise).
    std::stable_sort(specs.begin(), specs.end(), [](const TensorSpec& a, const TensorSpec& b) {
      if (a.dtype != b.dtype) return static_cast<int>(a.dtype) > static_cast<int>(b.dtype);
      return a.name < b.name;
    });
  }
  std::vector<TensorInfo> tensors;
  tensors.reserve(specs.size());
  std::uint64_t offset = 0;
  for (TensorSpec& spec : specs) {
    auto n = NumElements(spec.shape);
    if (!n.ok()) return n.status().Annotate("tensor '" + spec.name + "'");
    auto bytes = ByteSizeFor(spec.dtype, *n);
    if (!bytes.ok()) return bytes.status().Annotate("tensor '" + spec.name + "'");
    if (*bytes > UINT64_MAX - offset) return core::InvalidArgument("total tensor size overflows");
    TensorInfo info;
    info.name = std::move(spec.name);
    info.dtype = spec.dtype;
    info.shape = std::move(spec.shape);
    info.data_begin = offset;
    info.data_end = offset + *bytes;
    info.num_elements = *n;
    offset = info.data_end;
    tensors.push_back(std::move(info));
  }
  SDXL_ASSIGN_OR_RETURN(std::string header_bytes, SerializeSafetensorsHeader(tensors, metadata));
  // FromTensors re-sorts by offset, which keeps the layout order (offsets increase along it), and
  // rejects duplicate names.
  auto header = SafetensorsHeader::FromTensors(header_bytes.size() - 8, std::move(tensors),
                                               std::move(metadata));
  if (!header.ok()) return core::InvalidArgument(header.status().message());

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  if (impl->options.buffer_size == 0) impl->options.buffer_size = 1;
  impl->header = std::move(header).value();
  impl->header_bytes = std::move(header_bytes);
  SDXL_ASSIGN_OR_RETURN(impl->file,
                        core::AtomicFileWriter::Create(path, {.sync = impl->options.sync}));
  impl->buffer.reserve(impl->options.buffer_size);
  SDXL_RETURN_IF_ERROR(impl->Append(std::as_bytes(std::span(impl->header_bytes))));
  return SafetensorsWriter(std::move(impl));
}

Status SafetensorsWriter::Write(std::string_view name, std::span<const std::byte> bytes) {
  Impl& w = *impl_;
  if (!w.broken.ok()) return w.broken;
  if (w.finished) return core::FailedPrecondition("SafetensorsWriter::Write after Finish");
  const auto& ts = w.header.tensors();
  if (bytes.empty()) {
    if (!w.header.Find(name)) {
      return core::InvalidArgument("tensor '" + std::string(name) + "' is not in this file");
    }
    return Status::Ok();
  }
  w.SkipCompleted();
  if (w.current >= ts.size()) {
    return core::InvalidArgument("all tensors are already written; unexpected data for '" +
                                 std::string(name) + "'");
  }
  const TensorInfo& t = ts[w.current];
  if (t.name != name) {
    return core::InvalidArgument("tensor '" + std::string(name) + "' written out of order: '" +
                                 t.name +
                                 "' comes next (write in SafetensorsWriter::layout() order)");
  }
  if (bytes.size() > t.byte_size() - w.current_done) {
    return core::InvalidArgument("tensor '" + t.name + "' is " + std::to_string(t.byte_size()) +
                                 " bytes; writing " + std::to_string(bytes.size()) +
                                 " more after " + std::to_string(w.current_done) + " overflows it");
  }
  SDXL_RETURN_IF_ERROR(w.Append(bytes));
  w.current_done += bytes.size();
  return Status::Ok();
}

Status SafetensorsWriter::Finish() {
  Impl& w = *impl_;
  if (!w.broken.ok()) return w.broken;
  if (w.finished) return core::FailedPrecondition("SafetensorsWriter::Finish called twice");
  w.SkipCompleted();
  const auto& ts = w.header.tensors();
  if (w.current < ts.size()) {
    return core::InvalidArgument("tensor '" + ts[w.current].name + "' is incomplete (" +
                                 std::to_string(w.current_done) + " of " +
                                 std::to_string(ts[w.current].byte_size()) +
                                 " bytes written); nothing was saved to " + w.path.string());
  }
  SDXL_RETURN_IF_ERROR(w.Flush());
  SDXL_RETURN_IF_ERROR(w.file->Commit());
  w.finished = true;
  return Status::Ok();
}

}  // namespace sdxl::weights
