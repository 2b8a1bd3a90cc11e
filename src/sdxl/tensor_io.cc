#include "sdxl/tensor_io.h"

#include <optional>
#include <vector>

#include "weights/safetensors.h"

namespace sdxl::sdxl {
namespace {

std::optional<torch::Dtype> ToTorch(weights::DType d) {
  switch (d) {
    case weights::DType::kF32:
      return torch::kFloat32;
    case weights::DType::kF16:
      return torch::kFloat16;
    case weights::DType::kBF16:
      return torch::kBFloat16;
    case weights::DType::kF64:
      return torch::kFloat64;
    case weights::DType::kI64:
      return torch::kInt64;
    case weights::DType::kI32:
      return torch::kInt32;
    case weights::DType::kU8:
      return torch::kUInt8;
    case weights::DType::kBool:
      return torch::kBool;
    default:
      return std::nullopt;
  }
}

std::optional<weights::DType> FromTorch(torch::Dtype d) {
  switch (d) {
    case torch::kFloat32:
      return weights::DType::kF32;
    case torch::kFloat16:
      return weights::DType::kF16;
    case torch::kBFloat16:
      return weights::DType::kBF16;
    case torch::kFloat64:
      return weights::DType::kF64;
    case torch::kInt64:
      return weights::DType::kI64;
    case torch::kInt32:
      return weights::DType::kI32;
    case torch::kUInt8:
      return weights::DType::kU8;
    case torch::kBool:
      return weights::DType::kBool;
    default:
      return std::nullopt;
  }
}

}  // namespace

core::Result<std::map<std::string, torch::Tensor>> ReadTensors(const std::filesystem::path& path) {
  SDXL_ASSIGN_OR_RETURN(auto file, weights::SafetensorsFile::Open(path));
  std::map<std::string, torch::Tensor> out;
  for (const auto& info : file.header().tensors()) {
    auto dt = ToTorch(info.dtype);
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
    auto dt = FromTorch(t.scalar_type());
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
