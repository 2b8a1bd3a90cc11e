#include "loader/component_gate.h"

namespace sdxl::loader {

void ComponentGate::Plan(const std::vector<std::string>& components) {
  {
    std::lock_guard lock(mu_);
    planned_.emplace(components.begin(), components.end());
  }
  cv_.notify_all();
}

void ComponentGate::Ready(const std::string& component) {
  {
    std::lock_guard lock(mu_);
    ready_.insert(component);
  }
  cv_.notify_all();
}

void ComponentGate::AllReady() {
  {
    std::lock_guard lock(mu_);
    all_ready_ = true;
  }
  cv_.notify_all();
}

void ComponentGate::Fail(const core::Status& status) {
  {
    std::lock_guard lock(mu_);
    if (!failed_) failed_ = status;
  }
  cv_.notify_all();
}

core::Status ComponentGate::Wait(const std::string& component) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] {
    return failed_ || all_ready_ || ready_.count(component) > 0 ||
           (planned_ && planned_->count(component) == 0);
  });
  if (failed_ && !all_ready_ && ready_.count(component) == 0) return *failed_;
  return core::Status::Ok();
}

}  // namespace sdxl::loader
