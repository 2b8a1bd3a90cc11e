#pragma once
// ResolveAndLoad: the cold start of `generate` and `serve` in one call. The model (a local
// folder, s3://BUCKET/PATH, or MODEL_BUCKET_NAME/MODEL_PATH; see resolve_model.h) is pulled into
// the verified cache on one thread while the engine loads it on the calling thread, component by
// component as each one's files are complete (ComponentGate; the UNet, most of the bytes, comes
// last), so loading the text encoders and the VAE hides under the UNet's download. A local folder
// is loaded directly. Torch-free: it drives the engine through sdxl/engine.h.
// Thread-safe as ResolveModel; the returned pipeline is owned by the caller.

#include <functional>
#include <memory>
#include <string_view>

#include "core/environment.h"
#include "core/status.h"
#include "loader/model_cache.h"
#include "sdxl/engine.h"

namespace sdxl::loader {

struct LoadedModel {
  std::unique_ptr<sdxl::EnginePipeline> pipeline;
  PulledModel pulled;  // dir, pull timings and stats (zero for a local folder)
  double load_s = 0;   // from the start of the engine's load to its end (overlaps the pull)
  double total_s = 0;  // the whole call
};

// `get_engine` is called on the calling thread after the pull started (e.g. the get() of
// EngineLibrary::OpenAsync, so the library opens meanwhile). A failed pull is reported as such,
// not as the load error it causes.
core::Result<LoadedModel> ResolveAndLoad(
    std::string_view model, const core::Environment& env, const PullOptions& pull,
    const std::function<core::Result<sdxl::Engine*>()>& get_engine, sdxl::PipelineLoadOptions load);

}  // namespace sdxl::loader
