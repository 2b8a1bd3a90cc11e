// Loading module state from safetensors by key name, with all checks done before any write.
#include "sdxl/module_loader.h"

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "weights/safetensors.h"

namespace sdxl::sdxl {
namespace {

namespace fs = std::filesystem;

// One tensor available for loading: its shape/dtype and how to materialise it (on CPU, in its
// stored dtype; the caller converts).
struct SourceTensor {
  std::vector<int64_t> shape;
  std::function<torch::Tensor()> make;
  uint64_t bytes = 0;
};

std::optional<torch::Dtype> TorchDtype(weights::DType d) {
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
    case weights::DType::kI16:
      return torch::kInt16;
    case weights::DType::kI8:
      return torch::kInt8;
    case weights::DType::kU8:
      return torch::kUInt8;
    case weights::DType::kBool:
      return torch::kBool;
    default:
      return std::nullopt;
  }
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string JoinFirst(const std::vector<std::string>& items, size_t limit = 20) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < limit; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > limit) s += ", ... (" + std::to_string(items.size() - limit) + " more)";
  return s;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Rename(const std::string& key, const ModuleLoadOptions& options) {
  for (const auto& [from, to] : options.file_prefix_renames) {
    if (key.rfind(from, 0) == 0) return to + key.substr(from.size());
  }
  return key;
}

core::Result<ModuleLoadReport> LoadFromSources(torch::nn::Module& module,
                                               const std::map<std::string, SourceTensor>& sources,
                                               const ModuleLoadOptions& options) {
  std::map<std::string, torch::Tensor> targets;
  for (auto& item : module.named_parameters(/*recurse=*/true)) targets[item.key()] = item.value();
  for (auto& item : module.named_buffers(/*recurse=*/true)) targets[item.key()] = item.value();

  ModuleLoadReport report;
  std::vector<std::string> unexpected, missing, mismatched;
  std::map<std::string, const SourceTensor*> matched;
  for (const auto& [file_key, src] : sources) {
    const std::string key = Rename(file_key, options);
    auto it = targets.find(key);
    if (it == targets.end()) {
      bool ignored = false;
      for (const auto& suffix : options.ignore_unexpected_suffixes) {
        ignored = ignored || EndsWith(key, suffix);
      }
      (ignored ? report.ignored_unexpected : unexpected).push_back(file_key);
      continue;
    }
    if (matched.count(key)) {
      return core::InvalidArgument("weights hold '" + key + "' twice (file keys renamed onto " +
                                   "the same name): check the checkpoint");
    }
    if (it->second.sizes().vec() != src.shape) {
      mismatched.push_back(key + " (file " + ShapeString(src.shape) + ", model " +
                           ShapeString(it->second.sizes().vec()) + ")");
      continue;
    }
    matched[key] = &src;
  }
  const std::set<std::string> allowed(options.allow_missing.begin(), options.allow_missing.end());
  for (const auto& [key, t] : targets) {
    if (!matched.count(key) && !allowed.count(key) &&
        std::none_of(mismatched.begin(), mismatched.end(),
                     [&](const std::string& m) { return m.rfind(key + " (", 0) == 0; })) {
      missing.push_back(key);
    }
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg =
        "weights do not match the model (is this the right component folder and "
        "config.json?)";
    if (!missing.empty()) {
      msg += "; missing " + std::to_string(missing.size()) + ": " + JoinFirst(missing);
    }
    if (!unexpected.empty()) {
      msg += "; unexpected " + std::to_string(unexpected.size()) + ": " + JoinFirst(unexpected);
    }
    if (!mismatched.empty()) {
      msg += "; shape mismatch " + std::to_string(mismatched.size()) + ": " + JoinFirst(mismatched);
    }
    return core::InvalidArgument(msg);
  }

  try {
    torch::NoGradGuard no_grad;
    // Keys and shapes are all checked above. One tensor at a time, so peak memory stays at the
    // model plus one tensor: copy into the parameter when it already has the target dtype and
    // device (no allocation), else replace its data with a converted copy.
    for (const auto& [key, src] : matched) {
      torch::Tensor value = src->make();
      torch::Tensor target = targets.at(key);
      const torch::Dtype dtype = value.is_floating_point() ? options.dtype : value.scalar_type();
      const bool same_device =
          target.device().type() == options.device.type() &&
          (!options.device.has_index() || target.device().index() == options.device.index());
      if (same_device && target.scalar_type() == dtype) {
        target.copy_(value);
      } else {
        target.set_data(value.to(options.device, dtype, /*non_blocking=*/false, /*copy=*/true));
      }
      report.bytes_read += src->bytes;
      ++report.tensors_loaded;
    }
  } catch (const std::exception& e) {
    return core::Internal(std::string("LibTorch failed while loading weights: ") + e.what());
  }
  return report;
}

core::Result<std::vector<fs::path>> ShardsFromIndex(const fs::path& index) {
  std::ifstream in(index);
  if (!in) return core::NotFound("cannot open " + index.string());
  std::vector<fs::path> files;
  try {
    const auto j = nlohmann::json::parse(in);
    std::set<std::string> seen;
    for (auto& [key, file] : j.at("weight_map").items()) {
      const std::string name = file.get<std::string>();
      if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
        return core::DataLoss(index.string() + " names a shard outside its folder: " + name);
      }
      if (seen.insert(name).second) files.push_back(index.parent_path() / name);
    }
  } catch (const std::exception& e) {
    return core::DataLoss(index.string() + " is not a valid shard index: " + e.what());
  }
  for (const auto& f : files) {
    if (!fs::exists(f)) {
      return core::NotFound("shard " + f.string() + " listed in " + index.string() +
                            " is missing: download the whole folder");
    }
  }
  return files;
}

}  // namespace

core::Result<std::vector<fs::path>> FindComponentWeights(const fs::path& component_dir,
                                                         const std::string& variant) {
  if (!fs::is_directory(component_dir)) {
    return core::NotFound("component folder " + component_dir.string() + " does not exist");
  }
  std::vector<std::string> tried;
  auto attempt = [&](const std::string& v) -> std::optional<std::vector<fs::path>> {
    const std::string infix = v.empty() ? "" : "." + v;
    for (const char* stem : {"model", "diffusion_pytorch_model"}) {
      const std::string single = std::string(stem) + infix + ".safetensors";
      tried.push_back(single);
      if (fs::is_regular_file(component_dir / single)) {
        return std::vector<fs::path>{component_dir / single};
      }
      const std::string index = std::string(stem) + ".safetensors.index" + infix + ".json";
      tried.push_back(index);
      if (fs::is_regular_file(component_dir / index)) {
        auto shards = ShardsFromIndex(component_dir / index);
        if (shards.ok()) return std::move(shards).value();
      }
    }
    return std::nullopt;
  };
  if (!variant.empty()) {
    if (auto files = attempt(variant)) return *files;
  }
  if (auto files = attempt("")) return *files;
  return core::NotFound("no safetensors weights in " + component_dir.string() + " (looked for " +
                        JoinFirst(tried) + "); convert .bin checkpoints with prepare-model");
}

core::Result<ModuleLoadReport> LoadModuleWeights(torch::nn::Module& module,
                                                 const std::vector<fs::path>& files,
                                                 const ModuleLoadOptions& options) {
  std::vector<weights::SafetensorsFile> opened;
  opened.reserve(files.size());
  for (const auto& f : files) {
    auto file = weights::SafetensorsFile::Open(f);
    if (!file.ok()) return file.status().Annotate(f.string());
    opened.push_back(std::move(file).value());
  }
  std::map<std::string, SourceTensor> sources;
  for (const auto& file : opened) {
    for (const auto& info : file.header().tensors()) {
      auto dtype = TorchDtype(info.dtype);
      if (!dtype) {
        return core::InvalidArgument(file.path().string() + ": tensor '" + info.name +
                                     "' has dtype " + std::string(weights::DTypeName(info.dtype)) +
                                     ", which the model loader does not support");
      }
      SourceTensor src;
      for (auto d : info.shape) src.shape.push_back(static_cast<int64_t>(d));
      src.bytes = info.byte_size();
      const std::byte* data = file.Data(info).data();
      const auto shape = src.shape;
      src.make = [data, shape, dt = *dtype]() {
        return torch::from_blob(const_cast<std::byte*>(data), shape,
                                torch::TensorOptions().dtype(dt));
      };
      if (!sources.emplace(info.name, std::move(src)).second) {
        return core::DataLoss("tensor '" + info.name + "' appears in more than one shard");
      }
    }
  }
  return LoadFromSources(module, sources, options);
}

core::Result<ModuleLoadReport> LoadModuleState(torch::nn::Module& module,
                                               const std::map<std::string, torch::Tensor>& tensors,
                                               const ModuleLoadOptions& options) {
  std::map<std::string, SourceTensor> sources;
  for (const auto& [name, t] : tensors) {
    SourceTensor src;
    src.shape = t.sizes().vec();
    src.bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    src.make = [t]() { return t; };
    sources.emplace(name, std::move(src));
  }
  return LoadFromSources(module, sources, options);
}

}  // namespace sdxl::sdxl
