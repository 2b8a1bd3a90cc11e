#pragma once
// ServeMetrics: the server's counters and histograms, rendered for GET /metrics in Prometheus'
// text exposition format (version 0.0.4).
//
// Series (all prefixed sdxl_):
//   setup_phase_seconds{phase}            gauge: engine library, model pull, pipeline load, total
//   predictions_total{status}             counter: succeeded | failed | canceled
//   prediction_duration_seconds           histogram: start to terminal status
//   denoise_step_seconds                  histogram: one UNet step (from the engine's timings)
//   output_bytes_total                    counter: encoded image bytes stored/uploaded
//   up                                    gauge: 1 once READY
// Thread-safe.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "serve/prediction_service.h"

namespace sdxl::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends the _bucket/_sum/_count lines of `name`.
  void Render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket (not cumulative); last = +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class ServeMetrics final : public PredictionObserver {
 public:
  ServeMetrics();
  void SetSetupPhase(const std::string& phase, double seconds);
  void AddOutputBytes(std::uint64_t bytes);
  void ObserveStep(double seconds);
  void OnCompleted(const Prediction& snapshot) override;
  std::string Render(Health health) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, double> setup_;
  std::map<std::string, std::uint64_t> by_status_;
  Histogram latency_;
  Histogram step_;
  std::uint64_t output_bytes_ = 0;
};

}  // namespace sdxl::serve
