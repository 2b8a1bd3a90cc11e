// Loading module state from safetensors by key name, with all checks done before any write.
#include "sdxl/module_loader.h"

#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "sdxl/staging_ring.h"
#include "sdxl/torch_dtype.h"
#include "weights/convert.h"
#include "weights/safetensors.h"
#include "weights/weight_source.h"

namespace sdxl::sdxl {
namespace {

namespace fs = std::filesystem;

// The staging ring of a LoadModuleWeights call onto a device: 64 MiB of pinned memory. Sources
// hand out pieces of up to 16 MiB from 4-8 threads; each holds one buffer while it copies into
// it, the others' copies run meanwhile.
constexpr int kRingBuffers = 8;
constexpr std::size_t kRingBufferBytes = std::size_t{8} << 20;

// One tensor available for loading: its shape/dtype and how to materialise it (on CPU, in its
// stored dtype; the caller converts).
struct SourceTensor {
  std::vector<int64_t> shape;
  std::function<torch::Tensor()> make;
  uint64_t bytes = 0;
};

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
  std::string k = key;
  for (const auto& [from, to] : options.file_prefix_renames) {
    if (k.rfind(from, 0) == 0) {
      k = to + k.substr(from.size());
      break;
    }
  }
  return options.rename_key ? options.rename_key(k) : k;
}

bool Skipped(const std::string& file_key, const ModuleLoadOptions& options) {
  return std::any_of(options.skip_prefixes.begin(), options.skip_prefixes.end(),
                     [&](const std::string& p) { return file_key.rfind(p, 0) == 0; });
}

// The file's shape fits the model's: equal, or (accept_trailing_ones) the model's followed by
// 1-sized dimensions.
bool ShapeFits(const std::vector<int64_t>& file, const std::vector<int64_t>& model,
               const ModuleLoadOptions& options) {
  if (file == model) return true;
  if (!options.accept_trailing_ones || file.size() <= model.size()) return false;
  if (!std::equal(model.begin(), model.end(), file.begin())) return false;
  return std::all_of(file.begin() + static_cast<std::ptrdiff_t>(model.size()), file.end(),
                     [](int64_t d) { return d == 1; });
}

// Keys, shapes and names checked; `matched` maps each module key to its source key.
struct Matched {
  std::map<std::string, torch::Tensor> targets;    // module key -> parameter/buffer
  std::map<std::string, std::string> file_key_of;  // module key -> source (file) key
};

// Checks that `shapes` (source key -> shape) fill every parameter and buffer of `module`
// exactly: no missing, unexpected (unless ignored) or mis-shaped key. Nothing is written.
core::Result<Matched> MatchKeys(torch::nn::Module& module,
                                const std::map<std::string, std::vector<int64_t>>& shapes,
                                const ModuleLoadOptions& options, ModuleLoadReport& report) {
  Matched m;
  for (auto& item : module.named_parameters(/*recurse=*/true)) m.targets[item.key()] = item.value();
  for (auto& item : module.named_buffers(/*recurse=*/true)) m.targets[item.key()] = item.value();

  std::vector<std::string> unexpected, missing, mismatched;
  for (const auto& [file_key, shape] : shapes) {
    if (Skipped(file_key, options)) continue;
    const std::string key = Rename(file_key, options);
    auto it = m.targets.find(key);
    if (it == m.targets.end()) {
      bool ignored = false;
      for (const auto& suffix : options.ignore_unexpected_suffixes) {
        ignored = ignored || EndsWith(key, suffix);
      }
      (ignored ? report.ignored_unexpected : unexpected).push_back(file_key);
      continue;
    }
    if (m.file_key_of.count(key)) {
      return core::InvalidArgument("weights hold '" + key + "' twice (file keys renamed onto " +
                                   "the same name): check the checkpoint");
    }
    if (!ShapeFits(shape, it->second.sizes().vec(), options)) {
      mismatched.push_back(key + " (file " + ShapeString(shape) + ", model " +
                           ShapeString(it->second.sizes().vec()) + ")");
      continue;
    }
    m.file_key_of[key] = file_key;
  }
  const std::set<std::string> allowed(options.allow_missing.begin(), options.allow_missing.end());
  for (const auto& [key, t] : m.targets) {
    if (!m.file_key_of.count(key) && !allowed.count(key) &&
        std::none_of(mismatched.begin(), mismatched.end(),
                     [&](const std::string& mm) { return mm.rfind(key + " (", 0) == 0; })) {
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
  return m;
}

bool SameDevice(const torch::Tensor& t, const torch::Device& device) {
  return t.device().type() == device.type() &&
         (!device.has_index() || t.device().index() == device.index());
}

core::Result<ModuleLoadReport> LoadFromSources(torch::nn::Module& module,
                                               const std::map<std::string, SourceTensor>& sources,
                                               const ModuleLoadOptions& options) {
  ModuleLoadReport report;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [k, src] : sources) shapes[k] = src.shape;
  SDXL_ASSIGN_OR_RETURN(Matched m, MatchKeys(module, shapes, options, report));
  try {
    torch::NoGradGuard no_grad;
    // Keys and shapes are all checked above. One tensor at a time, so peak memory stays at the
    // model plus one tensor: copy into the parameter when it already has the target dtype and
    // device (no allocation), else replace its data with a converted copy.
    for (const auto& [key, file_key] : m.file_key_of) {
      const SourceTensor& src = sources.at(file_key);
      torch::Tensor value = src.make();
      torch::Tensor target = m.targets.at(key);
      const torch::Dtype dtype = value.is_floating_point() ? options.dtype : value.scalar_type();
      if (SameDevice(target, options.device) && target.scalar_type() == dtype) {
        target.copy_(value);
      } else {
        target.set_data(value.to(options.device, dtype, /*non_blocking=*/false, /*copy=*/true));
      }
      report.bytes_read += src.bytes;
      ++report.tensors_loaded;
    }
  } catch (const std::exception& e) {
    return core::Internal(std::string("LibTorch failed while loading weights: ") + e.what());
  }
  return report;
}

// One tensor of a weights file and where its bytes go: `dest` (contiguous, target dtype and
// device) is the module's own parameter when it already has them, else a new tensor that
// replaces the parameter's data once every byte is in.
struct Slot {
  std::uint64_t begin = 0, end = 0;  // absolute file offsets of the tensor's bytes
  weights::DType src_dtype = weights::DType::kF32;
  torch::Dtype src_torch = torch::kFloat32;
  std::int64_t src_size = 4;  // bytes per source element
  torch::Tensor target;       // the module's tensor
  torch::Tensor dest;
  bool in_place = false;
  bool cpu_convert = false;  // dest is on the CPU with a dtype ConvertElements handles
  // A device target (CUDA): the bytes go through the staging ring into `dest_bytes` when the
  // file has dest's dtype, else into `device_staging` (the file's dtype, on the device), which is
  // converted into `dest` on the device once the last piece is queued.
  bool via_ring = false;
  torch::Tensor dest_bytes;      // dest, detached, as flat uint8
  torch::Tensor device_staging;  // uint8 on the device, allocated at the first piece
  // Otherwise (SDXL_CUDA_STAGING=tensor, or a conversion ConvertElements lacks) the bytes are
  // gathered in a host buffer (pinned for CUDA) and copied into `dest` in one go once the tensor
  // is complete: one device copy per tensor instead of one per network piece.
  bool staged = false;
  std::once_flag staging_once;
  torch::Tensor staging;  // uint8, the tensor's bytes in the file's dtype
  std::optional<weights::DType> dest_dtype;
  std::atomic<std::uint64_t> received{0};
  // Elements whose bytes were split between two pieces: collected here until complete.
  std::mutex edge_mu;
  struct Edge {
    std::array<std::byte, 16> bytes{};
    std::int64_t have = 0;
  };
  std::map<std::int64_t, Edge> edges;
};

// Writes `count` source elements starting at element `first` of the slot from `data`.
void FillElements(Slot& slot, std::int64_t first, std::int64_t count, const std::byte* data) {
  const auto n_bytes = static_cast<std::size_t>(count * slot.src_size);
  if (slot.cpu_convert) {
    const std::int64_t out_size = static_cast<std::int64_t>(slot.dest.element_size());
    auto* out = static_cast<std::byte*>(slot.dest.data_ptr()) + first * out_size;
    if (*slot.dest_dtype == slot.src_dtype) {
      std::memcpy(out, data, n_bytes);
    } else {
      core::Status st = weights::ConvertElements(
          slot.src_dtype, *slot.dest_dtype, std::span<const std::byte>(data, n_bytes),
          std::span<std::byte>(out, static_cast<std::size_t>(count * out_size)));
      if (!st.ok()) throw std::runtime_error(st.message());
    }
    return;
  }
  throw std::logic_error("FillElements on a staged slot");
}

// Staged slots: gathers [lo, hi) in the host buffer; the piece that completes the tensor copies
// it to `dest` (converting the dtype there) and frees the buffer.
void StageSlot(Slot& slot, std::uint64_t lo, std::uint64_t hi, const std::byte* data) {
  const std::uint64_t total = slot.end - slot.begin;
  std::call_once(slot.staging_once, [&] {
    slot.staging = torch::empty(
        {static_cast<std::int64_t>(total)},
        torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(slot.dest.is_cuda()));
  });
  std::memcpy(static_cast<std::byte*>(slot.staging.data_ptr()) + (lo - slot.begin), data, hi - lo);
  const std::uint64_t before = slot.received.fetch_add(hi - lo, std::memory_order_acq_rel);
  if (before + (hi - lo) != total) return;
  torch::Tensor src = slot.staging.view(slot.src_torch).view(slot.dest.sizes());
  slot.dest.copy_(src);
  slot.staging = torch::Tensor();
}

// Ring slots: queues [lo, hi)'s copy into device memory; the piece that completes the tensor
// queues its conversion (when the file's dtype is not dest's) right behind it.
void UploadSlot(Slot& slot, StagingRing& ring, DeviceCopyQueue& queue, std::uint64_t lo,
                std::uint64_t hi, const std::byte* data) {
  const std::uint64_t total = slot.end - slot.begin;
  const bool convert = slot.dest.scalar_type() != slot.src_torch;
  torch::Tensor to = slot.dest_bytes;
  if (convert) {
    std::call_once(slot.staging_once, [&] {
      slot.device_staging = queue.AllocateDevice(static_cast<std::size_t>(total));
    });
    to = slot.device_staging;
  }
  to = to.narrow(0, static_cast<std::int64_t>(lo - slot.begin), static_cast<std::int64_t>(hi - lo));
  ring.Upload(std::span<const std::byte>(data, hi - lo), to, [&] {
    const std::uint64_t before = slot.received.fetch_add(hi - lo, std::memory_order_acq_rel);
    if (convert && before + (hi - lo) == total) {
      // Every piece is queued before this point: the conversion sees them all. The staging memory
      // is freed in stream order (no one else holds it: all pieces are counted).
      queue.CopyAsync(slot.dest.detach(),
                      slot.device_staging.view(slot.src_torch).view(slot.dest.sizes()));
      slot.device_staging = torch::Tensor();
    }
  });
}

// The part [lo, hi) (absolute offsets, inside the slot) of a piece that starts at `data`.
void FillSlot(Slot& slot, std::uint64_t lo, std::uint64_t hi, const std::byte* data) {
  const auto es = static_cast<std::uint64_t>(slot.src_size);
  const std::uint64_t rel_lo = lo - slot.begin, rel_hi = hi - slot.begin;
  const std::uint64_t e0 = (rel_lo + es - 1) / es, e1 = rel_hi / es;
  if (e0 < e1) {
    FillElements(slot, static_cast<std::int64_t>(e0), static_cast<std::int64_t>(e1 - e0),
                 data + (e0 * es - rel_lo));
  }
  // Bytes of elements cut by the piece's ends.
  auto edge = [&](std::uint64_t elem, std::uint64_t from, std::uint64_t to) {
    std::lock_guard<std::mutex> lock(slot.edge_mu);
    Slot::Edge& e = slot.edges[static_cast<std::int64_t>(elem)];
    std::memcpy(e.bytes.data() + (from - elem * es), data + (from - rel_lo), to - from);
    e.have += static_cast<std::int64_t>(to - from);
    if (e.have == slot.src_size) {
      FillElements(slot, static_cast<std::int64_t>(elem), 1, e.bytes.data());
      slot.edges.erase(static_cast<std::int64_t>(elem));
    }
  };
  const bool head_cut = rel_lo % es != 0;
  if (head_cut) edge(rel_lo / es, rel_lo, std::min(rel_hi, (rel_lo / es + 1) * es));
  if (rel_hi % es != 0 && !(head_cut && rel_hi / es == rel_lo / es)) {
    edge(rel_hi / es, std::max(rel_lo, (rel_hi / es) * es), rel_hi);
  }
}

core::Result<std::vector<fs::path>> ShardsFromIndex(const fs::path& index,
                                                    weights::WeightSource& source) {
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
    if (!source.HasFile(f)) {
      return core::NotFound("shard " + f.string() + " listed in " + index.string() +
                            " is missing: download the whole folder");
    }
  }
  return files;
}

}  // namespace

core::Result<std::vector<fs::path>> FindComponentWeights(const fs::path& component_dir,
                                                         const std::string& variant,
                                                         weights::WeightSource* source) {
  weights::FolderWeightSource folder;
  weights::WeightSource& files = source ? *source : folder;
  if (!fs::is_directory(component_dir)) {
    return core::NotFound("component folder " + component_dir.string() + " does not exist");
  }
  std::vector<std::string> tried;
  auto attempt = [&](const std::string& v) -> std::optional<std::vector<fs::path>> {
    const std::string infix = v.empty() ? "" : "." + v;
    for (const char* stem : {"model", "diffusion_pytorch_model"}) {
      const std::string single = std::string(stem) + infix + ".safetensors";
      tried.push_back(single);
      if (files.HasFile(component_dir / single)) {
        return std::vector<fs::path>{component_dir / single};
      }
      const std::string index = std::string(stem) + ".safetensors.index" + infix + ".json";
      tried.push_back(index);
      if (fs::is_regular_file(component_dir / index)) {  // small files are in place already
        auto shards = ShardsFromIndex(component_dir / index, files);
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
  weights::FolderWeightSource folder;
  weights::WeightSource& source = options.source ? *options.source : folder;
  // 1. Headers: every key, dtype and shape is known before a byte of data is read.
  std::vector<weights::SafetensorsHeader> headers;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, std::pair<std::size_t, const weights::TensorInfo*>> where;
  headers.reserve(files.size());
  for (const auto& f : files) {
    auto header = source.ReadHeader(f);
    if (!header.ok()) return header.status();
    headers.push_back(std::move(header).value());
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    for (const auto& info : headers[i].tensors()) {
      if (!ToTorchDtype(info.dtype)) {
        return core::InvalidArgument(files[i].string() + ": tensor '" + info.name + "' has dtype " +
                                     std::string(weights::DTypeName(info.dtype)) +
                                     ", which the model loader does not support");
      }
      if (!where.emplace(info.name, std::make_pair(i, &info)).second) {
        return core::DataLoss("tensor '" + info.name + "' appears in more than one shard");
      }
      std::vector<int64_t> shape;
      for (auto d : info.shape) shape.push_back(static_cast<int64_t>(d));
      shapes.emplace(info.name, std::move(shape));
    }
  }
  ModuleLoadReport report;
  SDXL_ASSIGN_OR_RETURN(Matched m, MatchKeys(module, shapes, options, report));

  // Device targets go through a staging ring (the caller's queue, or a CUDA side stream).
  std::unique_ptr<DeviceCopyQueue> own_queue;
  DeviceCopyQueue* queue = options.copy_queue;
  if (!queue && options.device.is_cuda()) {
    SDXL_ASSIGN_OR_RETURN(const CudaStaging staging, CudaStagingFromEnvironment());
    if (staging == CudaStaging::kRing) {
      try {
        own_queue = MakeCudaCopyQueue(options.device);
      } catch (const std::exception& e) {
        return core::Internal(std::string("LibTorch failed to make a CUDA stream: ") + e.what());
      }
      queue = own_queue.get();
    }
  }
  std::optional<StagingRing> ring;
  if (queue) ring.emplace(*queue, kRingBuffers, kRingBufferBytes);

  // 2. Where each tensor's bytes land, file by file, sorted by offset.
  std::vector<std::vector<std::unique_ptr<Slot>>> slots(files.size());
  try {
    torch::NoGradGuard no_grad;
    for (const auto& [key, file_key] : m.file_key_of) {
      const auto [file_index, info] = where.at(file_key);
      auto slot = std::make_unique<Slot>();
      slot->begin = headers[file_index].data_offset() + info->data_begin;
      slot->end = headers[file_index].data_offset() + info->data_end;
      slot->src_dtype = info->dtype;
      slot->src_torch = *ToTorchDtype(info->dtype);
      slot->src_size = weights::DTypeBits(info->dtype) / 8;
      slot->target = m.targets.at(key);
      const bool floating = torch::isFloatingType(slot->src_torch);
      const torch::Dtype dtype = floating ? options.dtype : slot->src_torch;
      slot->in_place = SameDevice(slot->target, options.device) &&
                       slot->target.scalar_type() == dtype && slot->target.is_contiguous();
      slot->dest = slot->in_place
                       ? slot->target
                       : torch::empty(slot->target.sizes(),
                                      torch::TensorOptions().dtype(dtype).device(options.device));
      slot->dest_dtype = FromTorchDtype(dtype);
      slot->cpu_convert = slot->dest.device().is_cpu() && slot->dest_dtype.has_value() &&
                          (*slot->dest_dtype == slot->src_dtype ||
                           (weights::IsConvertibleFloat(slot->src_dtype) &&
                            weights::IsConvertibleFloat(*slot->dest_dtype)));
      slot->via_ring = ring && (options.copy_queue || slot->dest.is_cuda());
      slot->staged = !slot->via_ring && (!slot->cpu_convert || options.stage_whole_tensors);
      if (slot->via_ring) slot->dest_bytes = slot->dest.detach().reshape({-1}).view(torch::kUInt8);
      slots[file_index].push_back(std::move(slot));
    }
  } catch (const std::exception& e) {
    return core::Internal(std::string("LibTorch failed while preparing weights: ") + e.what());
  }

  // 3. Stream each file into its slots.
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto& file_slots = slots[i];
    std::sort(file_slots.begin(), file_slots.end(),
              [](const auto& a, const auto& b) { return a->begin < b->begin; });
    const weights::WeightSink sink = [&file_slots, &ring, queue](std::uint64_t offset,
                                                                 std::span<const std::byte> bytes) {
      const std::uint64_t a = offset, b = offset + bytes.size();
      // First slot that ends after `a`.
      auto it = std::partition_point(file_slots.begin(), file_slots.end(),
                                     [a](const auto& s) { return s->end <= a; });
      try {
        torch::NoGradGuard no_grad;
        for (; it != file_slots.end() && (*it)->begin < b; ++it) {
          Slot& slot = **it;
          const std::uint64_t lo = std::max(a, slot.begin), hi = std::min(b, slot.end);
          if (lo >= hi) continue;
          if (slot.via_ring) {
            UploadSlot(slot, *ring, *queue, lo, hi, bytes.data() + (lo - a));
          } else if (slot.staged) {
            StageSlot(slot, lo, hi, bytes.data() + (lo - a));
          } else {
            FillSlot(slot, lo, hi, bytes.data() + (lo - a));
            slot.received.fetch_add(hi - lo, std::memory_order_relaxed);
          }
        }
      } catch (const std::exception& e) {
        return core::Internal(std::string("LibTorch failed while loading weights: ") + e.what());
      }
      return core::Status::Ok();
    };
    SDXL_RETURN_IF_ERROR(source.Stream(files[i], sink));
    for (const auto& slot : file_slots) {
      const std::uint64_t want = slot->end - slot->begin;
      if (slot->received.load() != want) {
        return core::DataLoss(files[i].string() + ": a tensor received " +
                              std::to_string(slot->received.load()) + " of its " +
                              std::to_string(want) + " bytes; the file was delivered short");
      }
      report.bytes_read += want;
      ++report.tensors_loaded;
    }
  }
  if (ring) {
    try {
      ring->Finish();  // every byte is in device memory (and converted) before it is used
    } catch (const std::exception& e) {
      return core::Internal(std::string("LibTorch failed while copying weights to the device: ") +
                            e.what());
    }
    report.staging_host_bytes = ring->host_bytes();
  }
  // 4. Parameters that needed another dtype or device take their new data.
  try {
    torch::NoGradGuard no_grad;
    for (const auto& file_slots : slots) {
      for (const auto& slot : file_slots) {
        if (!slot->in_place) slot->target.set_data(slot->dest);
      }
    }
  } catch (const std::exception& e) {
    return core::Internal(std::string("LibTorch failed while loading weights: ") + e.what());
  }
  return report;
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
