#include "loader/resolve_model.h"

#include <filesystem>
#include <memory>

#include "storage/object_store.h"
#include "storage/s3_config.h"
#include "weights/manifest.h"

namespace sdxl::loader {
namespace fs = std::filesystem;
namespace {

core::Result<PulledModel> LocalFolder(std::string_view model) {
  std::string text(model);
  if (text.starts_with("file://")) text = text.substr(7);
  const fs::path dir(text);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return core::NotFound("model folder " + dir.string() +
                          " does not exist; pass a diffusers pipeline folder or s3://BUCKET/PATH");
  }
  if (!fs::is_regular_file(dir / "model_index.json", ec)) {
    return core::NotFound(dir.string() +
                          " holds no model_index.json, so it is not a diffusers pipeline; pass "
                          "the folder that holds it, or s3://BUCKET/PATH");
  }
  if (IsIncompleteCacheDir(dir)) {
    return core::FailedPrecondition(dir.string() +
                                    " is a cache folder whose pull did not finish; run "
                                    "`sdxl-tigris pull` (or pass the s3:// URL) to complete it");
  }
  PulledModel out;
  out.dir = dir;
  out.had_manifest = fs::is_regular_file(dir / std::string(weights::kManifestFileName), ec);
  return out;
}

core::Result<PulledModel> Pull(const ModelRef& ref, const core::Environment& env,
                               const PullOptions& options) {
  SDXL_ASSIGN_OR_RETURN(storage::S3Config config, storage::S3Config::Load(env, {}));
  if (auto st = config.RequireCredentials(); !st.ok()) {
    return st.Annotate("pulling " + ToUri(ref));
  }
  SDXL_ASSIGN_OR_RETURN(std::unique_ptr<storage::ObjectStore> store,
                        storage::OpenObjectStore("s3://" + ref.bucket, config));
  PullOptions opts = options;
  if (opts.cache_root.empty()) opts.cache_root = DefaultCacheRoot(env);
  return PullModel(*store, ref, opts);
}

}  // namespace

core::Result<PulledModel> ResolveModel(std::string_view model, const core::Environment& env,
                                       const PullOptions& options) {
  if (model.empty()) {
    SDXL_ASSIGN_OR_RETURN(ModelRef ref, ModelRefFromEnvironment(env));
    return Pull(ref, env, options);
  }
  if (model.starts_with("s3://")) {
    SDXL_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(model));
    return Pull(ref, env, options);
  }
  return LocalFolder(model);
}

core::Result<ModelPlan> PlanModel(std::string_view model, const core::Environment& env,
                                  const PullOptions& options) {
  if (!model.empty() && !model.starts_with("s3://")) {
    std::string text(model);
    if (text.starts_with("file://")) text = text.substr(7);
    return ModelPlan{fs::path(text), false};
  }
  ModelRef ref;
  if (model.empty()) {
    SDXL_ASSIGN_OR_RETURN(ref, ModelRefFromEnvironment(env));
  } else {
    SDXL_ASSIGN_OR_RETURN(ref, ParseModelRef(model));
  }
  const fs::path root = options.cache_root.empty() ? DefaultCacheRoot(env) : options.cache_root;
  std::error_code ec;
  fs::path dir = fs::absolute(ModelCacheDir(root, ref), ec);
  if (ec) return core::ErrnoStatus("cannot resolve " + root.string(), ec.value());
  return ModelPlan{std::move(dir), true};
}

}  // namespace sdxl::loader
