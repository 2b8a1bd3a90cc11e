#pragma once
// ResolveAndLoad: the cold start of `generate` and `serve` in one call. The model (a local
// folder, s3://BUCKET/PATH, or MODEL_BUCKET_NAME/MODEL_PATH; see resolve_model.h) is pulled into
// the verified cache on one thread while the engine loads it on the calling thread through a
// PullWeightSource: the components load in parallel as soon as their small files are in, and the
// weights stream from the download's receive buffers straight into the parameters while the
// same bytes are written to the cache, so the load hides under the download. A local folder (or
// a complete cache) is read from disk with the same streaming loader. When the cache's disk is
// too small, the weights go to the engine without being cached (PullOptions::
// continue_without_cache): the load still succeeds, with a warning. Torch-free: it drives the
// engine through sdxl/engine.h.
// Thread-safe as ResolveModel; the returned pipeline is owned by the caller.

#include <cstdint>
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
  // Weight bytes the engine got straight from the network, and read back from the cache (files
  // cached already, or bytes that arrived before the engine asked for their file).
  std::uint64_t bytes_streamed = 0;
  std::uint64_t bytes_from_disk = 0;
  // Weight bytes the engine got from the bucket on demand: files the full disk could not cache
  // (pulled.stats.files_not_cached), or the part of them that came before the engine asked.
  std::uint64_t bytes_on_demand = 0;
  double total_s = 0;  // the whole call
};

// `get_engine` is called on the calling thread after the pull started (e.g. the get() of
// EngineLibrary::OpenAsync, so the library opens meanwhile). A failed pull is reported as such,
// not as the load error it causes.
core::Result<LoadedModel> ResolveAndLoad(
    std::string_view model, const core::Environment& env, const PullOptions& pull,
    const std::function<core::Result<sdxl::Engine*>()>& get_engine, sdxl::PipelineLoadOptions load);

// The load-while-pulling core of ResolveAndLoad, for callers that run the pull themselves
// (`pull --load`, with the store its flags configure): `run_pull` runs on a new thread with the
// options to pull with (they carry the PullWeightSource as observer); `dir` is the folder the
// pull fills (ModelCacheDir).
core::Result<LoadedModel> LoadWhilePulling(
    const std::filesystem::path& dir, const PullOptions& pull,
    const std::function<core::Result<PulledModel>(const PullOptions&)>& run_pull,
    const std::function<core::Result<sdxl::Engine*>()>& get_engine, sdxl::PipelineLoadOptions load);

}  // namespace sdxl::loader
