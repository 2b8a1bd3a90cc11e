#include "sdxl/tensor_io.h"

#include <optional>
#include <vector>

#include "sdxl/torch_dtype.h"
#include "weights/safetensors.h"

namespace sdxl::sdxl {

core::Result<std::map<std::string, torch::Tensor>> ReadTensors(const std::filesystem::path& path) {
  SDXL_ASSIGN_OR_RETURN(auto file, weights::SafetensorsFile::Open(path));
  std::map<std::string, torch::Tensor> out;
  for (const auto& info : file.header().tensors()) {
    auto dt = ToTorchDtype(info.dtype);
    if (!dt) {
      return core::InvalidArgument(path.string() + ": tensor " + info.name +
                                   " has an unsupported dtype " +
                                   std::string(weights::DTypeName(info.dtype)));
    }
    std::vector<int64_t> shape(info.shape.begin(), info.shape.end());
    auto data = file.Data(info);
    out.emplace(info.name, torch::from_blob(const_cast<std::byte*>(data.data()), shape,
                                            torch::TensorOptions().dtype(*dt))
                               .clone());
  }
  return out;
}

core::Status WriteTensors(const std::filesystem::path& path,
                          const std::map<std::string, torch::Tensor>& tensors) {
  std::vector<weights::TensorSpec> specs;
  std::map<std::string, torch::Tensor> cpu;
  for (const auto& [name, t] : tensors) {
    auto dt = FromTorchDtype(t.scalar_type());
    if (!dt) return core::InvalidArgument("tensor " + name + " has an unsupported dtype");
    auto c = t.detach().to(torch::kCPU).contiguous();
    specs.push_back({name, *dt, std::vector<uint64_t>(c.sizes().begin(), c.sizes().end())});
    cpu.emplace(name, std::move(c));
  }
  SDXL_ASSIGN_OR_RETURN(auto writer, weights::SafetensorsWriter::Create(path, specs));
  for (const auto& info : writer.layout().tensors()) {
    const auto& t = cpu.at(info.name);
    SDXL_RETURN_IF_ERROR(writer.Write(info.name, {reinterpret_cast<const std::byte*>(t.data_ptr()),
                                                  static_cast<size_t>(t.nbytes())}));
  }
  return writer.Finish();
}

}  // namespace sdxl::sdxl
