#include "prepare/prepare.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "prepare/prepare_phases.h"
#include "prepare/recipe.h"
#include "prepare/upload_journal.h"

namespace sdxl::prepare {
namespace fs = std::filesystem;

core::Result<DTypeChoice> ParseDTypeChoice(std::string_view t) {
  if (t == "bf16" || t == "bfloat16") return DTypeChoice::kBf16;
  if (t == "fp16" || t == "float16") return DTypeChoice::kFp16;
  if (t == "keep") return DTypeChoice::kKeep;
  return core::InvalidArgument("--dtype must be bf16, fp16 or keep (got '" + std::string(t) + "')");
}

std::string_view DTypeChoiceName(DTypeChoice d) {
  switch (d) {
    case DTypeChoice::kBf16:
      return "bf16";
    case DTypeChoice::kFp16:
      return "fp16";
    case DTypeChoice::kKeep:
      return "keep";
  }
  return "?";
}

bool IsLocalSource(std::string_view s) {
  if (s.rfind("file://", 0) == 0 || s.rfind("/", 0) == 0 || s.rfind("./", 0) == 0 ||
      s.rfind("../", 0) == 0 || s.rfind("~", 0) == 0 || s == "." || s == "..") {
    return true;
  }
  std::error_code ec;
  return fs::is_directory(fs::path(std::string(s)), ec);
}

namespace {

bool IsBucketChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool IsValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  if (!std::all_of(name.begin(), name.end(), IsBucketChar)) return false;
  auto alnum = [](char c) { return IsBucketChar(c) && c != '.' && c != '-'; };
  return alnum(name.front()) && alnum(name.back());
}

}  // namespace

core::Result<storage::Location> ParseDestination(std::string_view bucket) {
  const std::string text(bucket);
  if (text.empty()) {
    return core::InvalidArgument(
        "BUCKET is empty: give a bucket name, s3://BUCKET[/PREFIX], "
        "or a local store as ./DIR, /DIR or file://DIR");
  }
  if (text.starts_with("s3://") || text.starts_with("S3://") || text.starts_with("file://")) {
    return storage::ParseLocation(text);
  }
  if (text.find("://") != std::string::npos) {
    return core::InvalidArgument("unsupported BUCKET '" + text +
                                 "': use a bucket name, s3://BUCKET[/PREFIX] or file://DIR");
  }
  const bool explicit_path = text.starts_with('/') || text.starts_with("./") ||
                             text.starts_with("../") || text.starts_with('~') || text == "." ||
                             text == "..";
  if (explicit_path) {
    storage::Location loc;
    loc.kind = storage::Location::Kind::kLocal;
    loc.path = text;
    return loc;
  }
  if (text.find('/') != std::string::npos) {
    const std::string name = text.substr(0, text.find('/'));
    return core::InvalidArgument("BUCKET '" + text + "' is ambiguous: write s3://" + text +
                                 " for the prefix " + text.substr(name.size() + 1) + " in bucket " +
                                 name + ", or ./" + text + " for a local folder");
  }
  if (!IsValidBucketName(text)) {
    return core::InvalidArgument("BUCKET '" + text +
                                 "' is not a valid bucket name (3-63 characters: a-z, 0-9, '.', "
                                 "'-'); for a local folder write ./" +
                                 text);
  }
  storage::Location loc;
  loc.kind = storage::Location::Kind::kS3;
  loc.bucket = text;
  return loc;
}

bool IsEnvSafe(std::string_view value) {
  if (value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_./:@%+,=-").find(c) != std::string_view::npos;
  });
}

core::Result<std::string> ModelLocation(std::string_view bucket, std::string_view model_path) {
  std::string mp(model_path);
  while (!mp.empty() && mp.front() == '/') mp.erase(mp.begin());
  while (!mp.empty() && mp.back() == '/') mp.pop_back();
  if (mp.empty() || mp.find("..") != std::string::npos || mp.find("//") != std::string::npos) {
    return core::InvalidArgument("--path '" + std::string(model_path) +
                                 "' is not a usable model path: use a key prefix like org/name");
  }
  if (!IsEnvSafe(mp)) {
    return core::InvalidArgument(
        "'" + std::string(model_path) +
        "' cannot be MODEL_PATH: use letters, digits and _ . / - only (it goes into the "
        "deployment environment); pass --path");
  }
  SDXL_ASSIGN_OR_RETURN(auto loc, ParseDestination(bucket));
  if (loc.kind == storage::Location::Kind::kS3) {
    std::string prefix = loc.prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    return "s3://" + loc.bucket + "/" + (prefix.empty() ? "" : prefix + "/") + mp;
  }
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(loc.path), ec);
  return "file://" + (abs.lexically_normal() / mp).string();
}

core::Result<PrepareResult> PrepareModel(const PrepareOptions& o, hub::HubClient* hub,
                                         ModelStoreOpener& opener) {
  if (o.work_dir.empty()) return core::InvalidArgument("PrepareOptions.work_dir is empty");
  if (o.jobs < 1) return core::InvalidArgument("-j must be at least 1");
  SDXL_RETURN_IF_ERROR(LightningUnetFile(o.lightning_steps).status());

  SDXL_ASSIGN_OR_RETURN(Plan plan, MakePlan(o, hub));
  PrepareResult result;
  result.model_path =
      o.model_path.value_or(plan.local ? plan.local_root.filename().string() : o.source);
  result.source_revision = plan.source_revision;
  result.recipe_name = plan.recipe.value("name", "");
  SDXL_ASSIGN_OR_RETURN(result.destination, ModelLocation(o.bucket, result.model_path));
  SDXL_ASSIGN_OR_RETURN(auto store, opener.Open(result.destination));
  if (storage::ParseLocation(result.destination)->kind == storage::Location::Kind::kLocal) {
    SDXL_RETURN_IF_ERROR(store->CreateBucket());
  }
  spdlog::info("{}{}: {} files selected ({} components{}), recipe {}, dtype {}", plan.source_repo,
               plan.source_revision.empty() ? "" : "@" + plan.source_revision.substr(0, 12),
               plan.selection.files.size(), plan.selection.components.size(),
               plan.selection.fp16_variant ? ", fp16 variant" : "", result.recipe_name,
               DTypeChoiceName(o.dtype));

  SDXL_ASSIGN_OR_RETURN(BucketState bucket, InspectBucket(*store));
  // Fast path: same source commit and recipe already complete in the bucket.
  if (!plan.local && bucket.HoldsModelOf(plan.source_repo, plan.source_revision, plan.recipe)) {
    result.was_complete = true;
    result.files = bucket.remote->files.size();
    result.bytes = bucket.remote->total_bytes();
    return result;
  }

  SDXL_ASSIGN_OR_RETURN(auto sources, FetchSources(plan, hub, o.jobs, o.progress));
  SDXL_ASSIGN_OR_RETURN(auto outputs, StageFiles(plan, sources, o.work_dir / Fingerprint(plan),
                                                 TargetDType(o.dtype), o.progress));
  SDXL_ASSIGN_OR_RETURN(weights::Manifest manifest, BuildManifest(plan, outputs, o.progress));
  result.files = manifest.files.size();
  result.bytes = manifest.total_bytes();
  if (bucket.HoldsModel(manifest)) {
    result.was_complete = true;
    return result;
  }

  Journal journal = SeedJournal(
      ReadUploadJournal(*store, bucket.objects.count(std::string(kUploadJournalName)) > 0),
      manifest, bucket);
  if (bucket.remote) {
    // The bucket no longer holds a complete model from here on: record what stays valid first.
    SDXL_RETURN_IF_ERROR(SaveUploadJournal(*store, journal));
    SDXL_RETURN_IF_ERROR(store->Delete(weights::kManifestFileName));
  }
  UploadPlan uploads = PlanUploads(manifest, bucket.objects, journal);
  result.files_reused = uploads.reused;
  SDXL_ASSIGN_OR_RETURN(result.bytes_uploaded, UploadFiles(*store, manifest, outputs, uploads.todo,
                                                           journal, o.jobs, o.progress));
  result.files_uploaded = uploads.todo.size();
  SDXL_RETURN_IF_ERROR(PublishManifest(*store, manifest, bucket.objects));
  return result;
}

}  // namespace sdxl::prepare
