// MakePlan and Fingerprint: the plan phase of PrepareModel (see prepare_phases.h).
#include "prepare/prepare_phases.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/hash.h"
#include "prepare/recipe.h"

namespace sdxl::prepare {
namespace fs = std::filesystem;
using nlohmann::json;

core::Result<Listing> WalkLocal(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return core::NotFound("local source " + root.string() + " is not a directory");
  }
  Listing l;
  l.origin = root.string();
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    l.files.push_back({it->path().lexically_relative(root).generic_string(),
                       static_cast<unsigned long long>(it->file_size())});
  }
  if (ec) return core::Unavailable("cannot list " + root.string() + ": " + ec.message());
  return l;
}

namespace {

Listing ToListing(const std::string& origin, const std::vector<hub::RepoFile>& files) {
  Listing l;
  l.origin = origin;
  for (const auto& f : files) l.files.push_back({f.path, f.size});
  return l;
}

}  // namespace

core::Result<Plan> MakePlan(const PrepareOptions& o, hub::HubClient* hub) {
  Plan plan;
  json recipe = {{"dtype", std::string(DTypeChoiceName(o.dtype))}};
  if (IsLocalSource(o.source)) {
    std::string path = o.source.rfind("file://", 0) == 0 ? o.source.substr(7) : o.source;
    std::error_code ec;
    plan.local = true;
    plan.local_root = fs::absolute(path, ec).lexically_normal();
    if (plan.local_root.filename().empty()) plan.local_root = plan.local_root.parent_path();
    plan.source_repo = plan.local_root.string();
    SDXL_ASSIGN_OR_RETURN(Listing listing, WalkLocal(plan.local_root));
    auto index = core::ReadFile(plan.local_root / "model_index.json");
    if (!index.ok()) {
      return core::InvalidArgument("'" + plan.source_repo +
                                   "' is not an SDXL diffusers pipeline: it has no "
                                   "model_index.json at its root");
    }
    SDXL_ASSIGN_OR_RETURN(plan.selection, SelectSdxlFiles(listing, *index));
    recipe["name"] = "sdxl";
    plan.recipe = recipe;
    return plan;
  }
  if (hub == nullptr) return core::Internal("no Hub client for a repo source");
  auto fetch_listing = [&](const std::string& repo, const std::string& rev) -> core::Status {
    SDXL_ASSIGN_OR_RETURN(std::string commit, hub->ResolveRevision(repo, rev));
    SDXL_ASSIGN_OR_RETURN(auto files, hub->ListFiles(repo, commit));
    plan.commits[repo] = commit;
    for (auto& f : files) plan.repo_files[repo][f.path] = f;
    return core::Status::Ok();
  };
  auto read_index = [&](const std::string& repo) -> core::Result<std::string> {
    auto it = plan.repo_files[repo].find("model_index.json");
    if (it == plan.repo_files[repo].end()) {
      return core::InvalidArgument(
          "'" + repo +
          "' is not an SDXL diffusers pipeline: it has no model_index.json at its "
          "root (single-file checkpoints are not supported; use a diffusers-layout repo)");
    }
    SDXL_ASSIGN_OR_RETURN(fs::path p, hub->Download(repo, plan.commits[repo], it->second));
    return core::ReadFile(p);
  };
  auto listing_of = [&](const std::string& repo) {
    std::vector<hub::RepoFile> v;
    for (auto& [_, f] : plan.repo_files[repo]) v.push_back(f);
    return ToListing(repo, v);
  };
  plan.source_repo = o.source;
  if (IsLightningRepo(o.source)) {
    const std::string base(kSdxlBaseRepo);
    SDXL_RETURN_IF_ERROR(fetch_listing(o.source, o.revision));
    SDXL_RETURN_IF_ERROR(fetch_listing(base, "main"));
    SDXL_ASSIGN_OR_RETURN(std::string index, read_index(base));
    // The base's UNet weights are replaced by the Lightning UNet: never required (offline, the
    // cache holds only what an earlier run downloaded, which is not them).
    SDXL_ASSIGN_OR_RETURN(Selection base_sel, SelectSdxlFiles(listing_of(base), index, {"unet"}));
    SDXL_ASSIGN_OR_RETURN(std::string unet_file, LightningUnetFile(o.lightning_steps));
    auto lightning =
        ApplyLightningRecipe(std::move(base_sel), listing_of(o.source), o.lightning_steps);
    if (!lightning.ok() && lightning.status().code() == core::Code::kNotFound &&
        hub->config().offline) {
      return core::NotFound("HF_HUB_OFFLINE is set and the Hugging Face cache has no " + unet_file +
                            " of '" + o.source +
                            "': unset HF_HUB_OFFLINE to download it, or pick the "
                            "--lightning-steps prepared before");
    }
    SDXL_ASSIGN_OR_RETURN(plan.selection, std::move(lightning));
    recipe["name"] = "sdxl-lightning";
    recipe["base"] = {{"repo", base}, {"revision", plan.commits[base]}};
    recipe["unet"] = {
        {"repo", o.source}, {"revision", plan.commits[o.source]}, {"file", unet_file}};
    recipe["scheduler"] = {{"_class_name", "EulerDiscreteScheduler"},
                           {"timestep_spacing", "trailing"}};
    recipe["steps"] = o.lightning_steps;
    recipe["guidance"] = 0.0;
  } else {
    SDXL_RETURN_IF_ERROR(fetch_listing(o.source, o.revision));
    SDXL_ASSIGN_OR_RETURN(std::string index, read_index(o.source));
    SDXL_ASSIGN_OR_RETURN(plan.selection, SelectSdxlFiles(listing_of(o.source), index));
    recipe["name"] = "sdxl";
  }
  plan.source_revision = plan.commits[o.source];
  plan.recipe = recipe;
  return plan;
}

std::string Fingerprint(const Plan& plan) {
  json fp = {{"v", 1}, {"source", plan.source_repo}, {"recipe", plan.recipe}};
  for (const auto& f : plan.selection.files) {
    json e = {{"origin", f.origin}, {"src", f.src_path}, {"dest", f.dest_path}};
    if (plan.local) {
      struct stat st {};
      ::stat((plan.local_root / f.src_path).c_str(), &st);
      e["size"] = static_cast<uint64_t>(st.st_size);
      e["mtime"] = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    } else {
      e["etag"] = plan.repo_files.at(f.origin).at(f.src_path).etag();
    }
    fp["files"].push_back(e);
  }
  return core::Sha256Hex(fp.dump()).substr(0, 20);
}

}  // namespace sdxl::prepare
