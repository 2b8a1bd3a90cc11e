#include "loader/load_model.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "loader/component_gate.h"
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

  ComponentGate gate;
  PullOptions opts = pull;
  // A failed load stops the pull (unless the caller brought its own cancel flag).
  std::atomic<bool> stop{false};
  if (!opts.transfer.cancel) opts.transfer.cancel = &stop;
  opts.on_components_planned =
      [&gate, user = pull.on_components_planned](const std::vector<std::string>& components) {
        gate.Plan(components);
        if (user) user(components);
      };
  opts.on_component_ready = [&gate, user = pull.on_component_ready](const std::string& c) {
    gate.Ready(c);
    if (user) user(c);
  };
  std::optional<core::Result<PulledModel>> pulled;
  std::thread puller([&] {
    auto r = ResolveModel(model, env, opts);
    if (r.ok()) {
      gate.AllReady();
    } else {
      gate.Fail(r.status());
    }
    pulled.emplace(std::move(r));
  });

  core::Result<std::unique_ptr<sdxl::EnginePipeline>> pipeline = core::Internal("not loaded");
  const auto t_load = Clock::now();
  auto engine = get_engine();
  if (!engine.ok()) {
    pipeline = engine.status();
  } else {
    auto user_wait = load.wait_for_component;
    load.wait_for_component = [&gate, user_wait](const std::string& component) {
      SDXL_RETURN_IF_ERROR(gate.Wait(component));
      return user_wait ? user_wait(component) : core::Status::Ok();
    };
    pipeline = (*engine)->LoadPipeline(plan.dir, load);
  }
  out.load_s = Since(t_load);
  if (!pipeline.ok()) stop = true;
  puller.join();
  // A failed pull is the cause of the load failure it led to; a pull we stopped is not.
  if (!pulled->ok() && !(stop && pulled->status().code() == core::Code::kCancelled)) {
    return pulled->status();
  }
  if (!pipeline.ok()) return pipeline.status();
  out.pulled = std::move(**pulled);
  out.pipeline = std::move(*pipeline);
  out.total_s = Since(t0);
  return out;
}

}  // namespace sdxl::loader
