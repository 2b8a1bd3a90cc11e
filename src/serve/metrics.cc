#include "serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace sdxl::serve {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, std::string& out) const {
  std::uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  cumulative += counts_.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, sum_, name, count_);
}

ServeMetrics::ServeMetrics()
    : latency_({0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120}),
      step_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}) {
  for (const char* s : {"succeeded", "failed", "canceled"}) by_status_[s] = 0;
}

void ServeMetrics::SetSetupPhase(const std::string& phase, double seconds) {
  std::lock_guard lock(mu_);
  setup_[phase] = seconds;
}

void ServeMetrics::AddOutputBytes(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  output_bytes_ += bytes;
}

void ServeMetrics::ObserveStep(double seconds) {
  std::lock_guard lock(mu_);
  step_.Observe(seconds);
}

void ServeMetrics::OnCompleted(const Prediction& snapshot) {
  std::lock_guard lock(mu_);
  ++by_status_[std::string(StatusName(snapshot.status))];
  latency_.Observe(snapshot.predict_time);
}

std::string ServeMetrics::Render(Health health) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP sdxl_up 1 when the server is READY or BUSY.\n# TYPE sdxl_up gauge\n";
  out += fmt::format("sdxl_up {}\n", health == Health::kReady || health == Health::kBusy ? 1 : 0);
  out += "# HELP sdxl_setup_phase_seconds Duration of each setup phase.\n";
  out += "# TYPE sdxl_setup_phase_seconds gauge\n";
  for (const auto& [phase, s] : setup_) {
    out += fmt::format("sdxl_setup_phase_seconds{{phase=\"{}\"}} {}\n", phase, s);
  }
  out += "# HELP sdxl_predictions_total Finished predictions by status.\n";
  out += "# TYPE sdxl_predictions_total counter\n";
  for (const auto& [status, n] : by_status_) {
    out += fmt::format("sdxl_predictions_total{{status=\"{}\"}} {}\n", status, n);
  }
  out += "# HELP sdxl_prediction_duration_seconds Prediction time, start to end.\n";
  out += "# TYPE sdxl_prediction_duration_seconds histogram\n";
  latency_.Render("sdxl_prediction_duration_seconds", out);
  out += "# HELP sdxl_denoise_step_seconds Time of one denoising step.\n";
  out += "# TYPE sdxl_denoise_step_seconds histogram\n";
  step_.Render("sdxl_denoise_step_seconds", out);
  out += "# HELP sdxl_output_bytes_total Encoded image bytes returned or uploaded.\n";
  out += "# TYPE sdxl_output_bytes_total counter\n";
  out += fmt::format("sdxl_output_bytes_total {}\n", output_bytes_);
  return out;
}

}  // namespace sdxl::serve
