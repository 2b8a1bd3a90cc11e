#pragma once
// ResolveModel: turns what the user gave as "the model" into a local pipeline folder, the one
// rule shared by `generate --model X` and `serve`:
//   - X is a local folder: returned as is (it must hold model_index.json; a cache folder whose
//     pull never finished is refused);
//   - X is s3://BUCKET/PATH: pulled into the cache (PullModel) through an S3 store configured from
//     the environment and the AWS files, exactly as the S3 commands resolve it
//     (storage/s3_config.h);
//   - X is empty: the model named by MODEL_BUCKET_NAME + MODEL_PATH, pulled the same way.
// options.cache_root may be empty: DefaultCacheRoot(env) is used then.
//
// Thread-safe (see PullModel). The result is a value owned by the caller; for a local folder its
// timings and stats are zero.

#include <string_view>

#include "core/environment.h"
#include "core/status.h"
#include "loader/model_cache.h"

namespace sdxl::loader {

core::Result<PulledModel> ResolveModel(std::string_view model, const core::Environment& env,
                                       const PullOptions& options);

// Where ResolveModel(model, env, options) puts the model, known before anything is downloaded:
// the local folder as given, or the cache folder of the pull (`pulls`). Checks the name only.
struct ModelPlan {
  std::filesystem::path dir;
  bool pulls = false;
};
core::Result<ModelPlan> PlanModel(std::string_view model, const core::Environment& env,
                                  const PullOptions& options);

}  // namespace sdxl::loader
