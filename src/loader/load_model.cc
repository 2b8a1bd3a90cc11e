#include "loader/load_model.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "loader/pull_weight_source.h"
#include "loader/resolve_model.h"

namespace sdxl::loader {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

core::Result<LoadedModel> ResolveAndLoad(
    std::string_view model, const core::Environment& env, const PullOptions& pull,
    const std::function<core::Result<sdxl::Engine*>()>& get_engine,
    sdxl::PipelineLoadOptions load) {
  const auto t0 = Clock::now();
  SDXL_ASSIGN_OR_RETURN(ModelPlan plan, PlanModel(model, env, pull));
  LoadedModel out;
  if (!plan.pulls) {  // a local folder: the engine first (its errors come first), then the folder
    SDXL_ASSIGN_OR_RETURN(sdxl::Engine * engine, get_engine());
    SDXL_ASSIGN_OR_RETURN(out.pulled, ResolveModel(model, env, pull));
    const auto t_load = Clock::now();
    SDXL_ASSIGN_OR_RETURN(out.pipeline, engine->LoadPipeline(out.pulled.dir, load));
    out.load_s = Since(t_load);
    out.total_s = Since(t0);
    return out;
  }

  auto loaded = LoadWhilePulling(
      plan.dir, pull, [&](const PullOptions& opts) { return ResolveModel(model, env, opts); },
      get_engine, std::move(load));
  if (loaded.ok()) loaded->total_s = Since(t0);
  return loaded;
}

core::Result<LoadedModel> LoadWhilePulling(
    const std::filesystem::path& dir, const PullOptions& pull,
    const std::function<core::Result<PulledModel>(const PullOptions&)>& run_pull,
    const std::function<core::Result<sdxl::Engine*>()>& get_engine,
    sdxl::PipelineLoadOptions load) {
  const auto t0 = Clock::now();
  LoadedModel out;
  PullWeightSource source;
  PullOptions opts = pull;
  opts.observer = &source;
  // A disk too small for the cache does not stop the load: the weights it cannot hold stream
  // into the engine only (a warning says so; the next start downloads them again).
  opts.continue_without_cache = true;
  // A failed load stops the pull (unless the caller brought its own cancel flag; the source
  // then fails the pull's next bytes with the load's error).
  std::atomic<bool> stop{false};
  if (!opts.transfer.cancel) opts.transfer.cancel = &stop;
  std::optional<core::Result<PulledModel>> pulled;
  std::thread puller([&] {
    auto r = run_pull(opts);
    source.Finish(r.ok() ? core::Status::Ok() : r.status());
    pulled.emplace(std::move(r));
  });

  core::Result<std::unique_ptr<sdxl::EnginePipeline>> pipeline = core::Internal("not loaded");
  const auto t_load = Clock::now();
  auto engine = get_engine();
  if (!engine.ok()) {
    pipeline = engine.status();
  } else {
    load.weights = &source;
    pipeline = (*engine)->LoadPipeline(dir, load);
  }
  out.load_s = Since(t_load);
  source.EngineFinished();  // the pull need not keep bytes it could not cache for the engine
  out.bytes_streamed = source.bytes_streamed();
  out.bytes_from_disk = source.bytes_from_disk();
  out.bytes_on_demand = source.bytes_fetched_on_demand();
  if (!pipeline.ok()) {
    source.Cancel(pipeline.status());
    stop = true;
  }
  puller.join();
  // A failed pull is the cause of the load failure it led to; a pull we stopped is not.
  if (!pulled->ok()) {
    const core::Status& ps = pulled->status();
    const bool stopped_by_load =
        !pipeline.ok() &&
        (ps.code() == core::Code::kCancelled ||
         (ps.code() == pipeline.status().code() && ps.message() == pipeline.status().message()));
    if (!stopped_by_load) return ps;
  }
  if (!pipeline.ok()) return pipeline.status();
  out.pulled = std::move(**pulled);
  out.pipeline = std::move(*pipeline);
  out.total_s = Since(t0);
  return out;
}

}  // namespace sdxl::loader
