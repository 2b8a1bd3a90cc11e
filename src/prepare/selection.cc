#include "prepare/selection.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace sdxl::prepare {
namespace {

using Kind = SelectedFile::Kind;

enum class FileClass { kPlainWeights, kVariantWeights, kPlainIndex, kVariantIndex, kConfig, kSkip };

struct Classified {
  FileClass cls;
  bool sharded = false;
};

Classified Classify(const std::string& name) {
  static const std::regex kVariantWeights(R"(^[^.]+\.fp16(-\d+-of-\d+)?\.safetensors$)");
  static const std::regex kPlainWeights(R"(^[^.]+(-\d+-of-\d+)?\.safetensors$)");
  static const std::regex kSharded(R"(-\d+-of-\d+\.safetensors$)");
  static const std::regex kPlainIndex(R"(^[^.]+\.safetensors\.index\.json$)");
  static const std::regex kVariantIndex(R"(^[^.]+\.safetensors\.index\.fp16\.json$)");
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool sharded = std::regex_search(name, kSharded);
  if (std::regex_match(name, kVariantWeights)) return {FileClass::kVariantWeights, sharded};
  if (std::regex_match(name, kPlainWeights)) return {FileClass::kPlainWeights, sharded};
  if (std::regex_match(name, kVariantIndex)) return {FileClass::kVariantIndex};
  if (std::regex_match(name, kPlainIndex)) return {FileClass::kPlainIndex};
  if (lower.find("openvino") != std::string::npos || lower.find(".index.") != std::string::npos ||
      lower.find("onnx") != std::string::npos || lower.find("flax") != std::string::npos) {
    return {FileClass::kSkip};
  }
  auto ends = [&](std::string_view s) {
    return lower.size() >= s.size() && lower.compare(lower.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".json") || ends(".txt")) return {FileClass::kConfig};
  return {FileClass::kSkip};
}

bool IsTokenizerOrScheduler(const std::string& cls) {
  return cls.find("Tokenizer") != std::string::npos || cls.find("Scheduler") != std::string::npos ||
         cls.find("FeatureExtractor") != std::string::npos ||
         cls.find("ImageProcessor") != std::string::npos;
}

core::Status Refuse(const std::string& origin, const std::string& why) {
  return core::InvalidArgument("'" + origin + "' is not an SDXL diffusers pipeline: " + why);
}

}  // namespace

std::string StripVariant(std::string_view file_name, std::string_view variant) {
  std::string name(file_name);
  std::string dot_variant = "." + std::string(variant);
  // x.safetensors.index.fp16.json -> x.safetensors.index.json
  std::string idx = ".safetensors.index" + dot_variant + ".json";
  if (name.size() > idx.size() && name.compare(name.size() - idx.size(), idx.size(), idx) == 0) {
    return name.substr(0, name.size() - idx.size()) + ".safetensors.index.json";
  }
  // x.fp16.safetensors / x.fp16-00001-of-00002.safetensors
  auto pos = name.find(dot_variant);
  if (pos != std::string::npos && name.size() > pos + dot_variant.size()) {
    char next = name[pos + dot_variant.size()];
    if ((next == '.' || next == '-') && name.compare(name.size() - 12, 12, ".safetensors") == 0) {
      return name.substr(0, pos) + name.substr(pos + dot_variant.size());
    }
  }
  return name;
}

core::Result<std::string> RewriteShardIndex(std::string_view json, std::string_view variant) {
  try {
    auto j = nlohmann::json::parse(json);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      return core::DataLoss("shard index has no weight_map object");
    }
    for (auto& [tensor, shard] : j["weight_map"].items()) {
      if (!shard.is_string())
        return core::DataLoss("shard index maps '" + tensor + "' to a non-string");
      shard = StripVariant(shard.get<std::string>(), variant);
    }
    return j.dump(2) + "\n";
  } catch (const std::exception& e) {
    return core::DataLoss(std::string("cannot parse shard index: ") + e.what());
  }
}

core::Result<Selection> SelectSdxlFiles(const Listing& listing, std::string_view model_index_json,
                                        const std::set<std::string>& weights_elsewhere) {
  const std::string& origin = listing.origin;
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(model_index_json);
  } catch (const std::exception& e) {
    return Refuse(origin, std::string("model_index.json is not valid JSON (") + e.what() + ")");
  }
  if (!index.is_object()) return Refuse(origin, "model_index.json is not a JSON object");
  std::string cls = index.value("_class_name", "");
  if (cls != "StableDiffusionXLPipeline") {
    std::string why = "model_index.json names the pipeline class '" + cls + "'";
    if (cls.find("XL") != std::string::npos) {
      why += " (an SDXL variant such as a refiner, img2img or inpainting pipeline)";
    }
    return Refuse(origin,
                  why + "; only text-to-image StableDiffusionXLPipeline repos are supported");
  }

  // Components: name -> class.
  std::map<std::string, std::string> components;
  for (auto& [key, val] : index.items()) {
    if (key.empty() || key[0] == '_') continue;
    if (!val.is_array() || val.size() != 2 || !val[0].is_string() || !val[1].is_string()) continue;
    if (key.find('/') != std::string::npos || key.find("..") != std::string::npos) {
      return Refuse(origin, "model_index.json has an unsafe component name '" + key + "'");
    }
    components[key] = val[1].get<std::string>();
  }
  const std::map<std::string, std::vector<std::string>> kRequired = {
      {"unet", {"UNet2DConditionModel"}},
      {"vae", {"AutoencoderKL"}},
      {"text_encoder", {"CLIPTextModel"}},
      {"text_encoder_2", {"CLIPTextModelWithProjection"}},
      {"tokenizer", {"CLIPTokenizer", "CLIPTokenizerFast"}},
      {"tokenizer_2", {"CLIPTokenizer", "CLIPTokenizerFast"}},
  };
  for (const auto& [name, classes] : kRequired) {
    auto it = components.find(name);
    if (it == components.end()) {
      return Refuse(origin, "model_index.json has no '" + name + "' component");
    }
    if (std::find(classes.begin(), classes.end(), it->second) == classes.end()) {
      return Refuse(
          origin, "component '" + name + "' is a " + it->second + ", expected " + classes.front());
    }
  }
  auto sched = components.find("scheduler");
  if (sched == components.end() || sched->second.find("Scheduler") == std::string::npos) {
    return Refuse(origin, "model_index.json has no diffusers scheduler component");
  }

  // Group the listing by component folder.
  std::map<std::string, std::vector<const Listing::Entry*>> by_component;
  Selection sel;
  bool have_index = false;
  for (const auto& e : listing.files) {
    auto slash = e.path.find('/');
    if (slash == std::string::npos) {
      if (e.path == "model_index.json") {
        have_index = true;
        sel.files.push_back({origin, e.path, e.path, Kind::kConfig, e.size});
      } else {
        sel.skipped.push_back(e.path);
      }
      continue;
    }
    std::string comp = e.path.substr(0, slash);
    if (components.count(comp) == 0 || e.path.find('/', slash + 1) != std::string::npos) {
      sel.skipped.push_back(e.path);
      continue;
    }
    by_component[comp].push_back(&e);
  }
  if (!have_index) return Refuse(origin, "it has no model_index.json at its root");

  for (const auto& [comp, comp_cls] : components) {
    sel.components.push_back(comp);
    auto it = by_component.find(comp);
    if (it == by_component.end()) {
      return Refuse(
          origin, "model_index.json names '" + comp + "' but the folder " + comp + "/ is missing");
    }
    std::vector<const Listing::Entry*> configs, plain, variant, plain_index, variant_index;
    bool plain_single = false, variant_single = false;
    for (const auto* e : it->second) {
      std::string name = e->path.substr(comp.size() + 1);
      auto c = Classify(name);
      switch (c.cls) {
        case FileClass::kConfig:
          configs.push_back(e);
          break;
        case FileClass::kPlainWeights:
          plain.push_back(e);
          plain_single |= !c.sharded;
          break;
        case FileClass::kVariantWeights:
          variant.push_back(e);
          variant_single |= !c.sharded;
          break;
        case FileClass::kPlainIndex:
          plain_index.push_back(e);
          break;
        case FileClass::kVariantIndex:
          variant_index.push_back(e);
          break;
        case FileClass::kSkip:
          sel.skipped.push_back(e->path);
          break;
      }
    }
    bool use_variant = !variant.empty();
    auto& weights = use_variant ? variant : plain;
    auto& idx = use_variant ? variant_index : plain_index;
    bool single = use_variant ? variant_single : plain_single;
    auto& unused = use_variant ? plain : variant;
    auto& unused_idx = use_variant ? plain_index : variant_index;
    for (const auto* e : unused) sel.skipped.push_back(e->path);
    for (const auto* e : unused_idx) sel.skipped.push_back(e->path);
    if (use_variant) sel.fp16_variant = true;

    bool needs_weights = !IsTokenizerOrScheduler(comp_cls) && !weights_elsewhere.count(comp);
    if (needs_weights && weights.empty()) {
      return Refuse(origin, "component '" + comp + "' has no .safetensors weights (only pickle " +
                                "or other formats this tool does not load); use a repo with " +
                                "safetensors files");
    }
    if (configs.empty()) {
      return Refuse(origin, "component folder " + comp + "/ has no config file");
    }
    for (const auto* e : configs) {
      sel.files.push_back({origin, e->path, e->path, Kind::kConfig, e->size});
    }
    for (const auto* e : weights) {
      std::string name = e->path.substr(comp.size() + 1);
      bool sharded = Classify(name).sharded;
      if (single && sharded) {  // both a single file and shards: the single file wins
        sel.skipped.push_back(e->path);
        continue;
      }
      sel.files.push_back(
          {origin, e->path, comp + "/" + StripVariant(name), Kind::kWeights, e->size});
    }
    if (!single) {
      for (const auto* e : idx) {
        std::string name = e->path.substr(comp.size() + 1);
        sel.files.push_back(
            {origin, e->path, comp + "/" + StripVariant(name), Kind::kShardIndex, e->size});
      }
    } else {
      for (const auto* e : idx) sel.skipped.push_back(e->path);
    }
  }
  std::sort(sel.files.begin(), sel.files.end(),
            [](const SelectedFile& a, const SelectedFile& b) { return a.dest_path < b.dest_path; });
  for (size_t i = 1; i < sel.files.size(); ++i) {
    if (sel.files[i].dest_path == sel.files[i - 1].dest_path) {
      return Refuse(origin, "two files map to " + sel.files[i].dest_path);
    }
  }
  std::sort(sel.skipped.begin(), sel.skipped.end());
  return sel;
}

}  // namespace sdxl::prepare
