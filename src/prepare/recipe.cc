#include "prepare/recipe.h"

#include <algorithm>
#include <cctype>

namespace sdxl::prepare {

bool IsLightningRepo(std::string_view repo_id) {
  if (repo_id.size() != kLightningRepo.size()) return false;
  for (size_t i = 0; i < repo_id.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(repo_id[i])) !=
        std::tolower(static_cast<unsigned char>(kLightningRepo[i]))) {
      return false;
    }
  }
  return true;
}

core::Result<std::string> LightningUnetFile(int steps) {
  if (steps != 2 && steps != 4 && steps != 8) {
    return core::InvalidArgument("--lightning-steps must be 2, 4 or 8 (got " +
                                 std::to_string(steps) + ")");
  }
  return "sdxl_lightning_" + std::to_string(steps) + "step_unet.safetensors";
}

core::Result<Selection> ApplyLightningRecipe(Selection base, const Listing& lightning, int steps) {
  SDXL_ASSIGN_OR_RETURN(std::string unet_file, LightningUnetFile(steps));
  const Listing::Entry* found = nullptr;
  for (const auto& e : lightning.files) {
    if (e.path == unet_file) found = &e;
  }
  if (found == nullptr) {
    return core::NotFound("'" + lightning.origin + "' has no " + unet_file +
                          " at this revision: pick another --lightning-steps or --revision");
  }
  Selection out;
  out.components = base.components;
  out.fp16_variant = base.fp16_variant;
  out.skipped = base.skipped;
  bool have_scheduler = false;
  for (auto& f : base.files) {
    bool unet_weights =
        f.dest_path.rfind("unet/", 0) == 0 &&
        (f.kind == SelectedFile::Kind::kWeights || f.kind == SelectedFile::Kind::kShardIndex);
    if (unet_weights) {
      out.skipped.push_back(f.src_path);
      continue;
    }
    if (f.dest_path == "scheduler/scheduler_config.json") {
      f.kind = SelectedFile::Kind::kLightningScheduler;
      have_scheduler = true;
    }
    out.files.push_back(std::move(f));
  }
  if (!have_scheduler) {
    return core::NotFound("'" + base.files.front().origin +
                          "' has no scheduler/scheduler_config.json to patch for Lightning");
  }
  out.files.push_back({lightning.origin, unet_file, "unet/diffusion_pytorch_model.safetensors",
                       SelectedFile::Kind::kWeights, found->size});
  std::sort(out.files.begin(), out.files.end(),
            [](const SelectedFile& a, const SelectedFile& b) { return a.dest_path < b.dest_path; });
  return out;
}

core::Result<std::string> PatchSchedulerForLightning(std::string_view scheduler_config_json) {
  try {
    auto j = nlohmann::json::parse(scheduler_config_json);
    if (!j.is_object()) return core::DataLoss("scheduler_config.json is not a JSON object");
    j["_class_name"] = "EulerDiscreteScheduler";
    j["timestep_spacing"] = "trailing";
    return j.dump(2) + "\n";
  } catch (const std::exception& e) {
    return core::DataLoss(std::string("cannot parse scheduler_config.json: ") + e.what());
  }
}

}  // namespace sdxl::prepare
