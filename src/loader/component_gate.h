#pragma once
// ComponentGate: lets a pipeline load while its files still arrive. The pull (PullModel) says
// which component folders the model has ("" = the top-level files such as model_index.json) and
// when each one is complete in the cache; the engine's load waits for each component before it
// reads it (sdxl::PipelineLoadOptions::wait_for_component). A failed pull releases every waiter
// with its error; a component the model does not have is released as soon as the plan is known
// (the engine then reports it missing itself).
// Thread-safe: the pull's worker threads mark components while the loading thread waits.

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace sdxl::loader {

class ComponentGate {
 public:
  // The model's component folders (called once, before any Ready).
  void Plan(const std::vector<std::string>& components);
  void Ready(const std::string& component);
  // Everything is in place (the pull succeeded): every waiter goes on.
  void AllReady();
  // The pull failed: every current and later Wait returns `status`.
  void Fail(const core::Status& status);
  // Blocks until `component` is complete, not part of the model, or the pull failed.
  [[nodiscard]] core::Status Wait(const std::string& component);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::set<std::string>> planned_;
  std::set<std::string> ready_;
  bool all_ready_ = false;
  std::optional<core::Status> failed_;
};

}  // namespace sdxl::loader
