#include "serve/metrics.h"

#include <gtest/gtest.h>

namespace sdxl::serve {
namespace {

TEST(ServeMetrics, RendersPrometheusText) {
  ServeMetrics m;
  m.SetSetupPhase("model_pull", 1.5);
  m.ObserveStep(0.02);
  m.AddOutputBytes(1234);
  Prediction p;
  p.status = PredictionStatus::kSucceeded;
  p.predict_time = 0.3;
  m.OnCompleted(p);
  p.status = PredictionStatus::kCanceled;
  m.OnCompleted(p);
  const std::string text = m.Render(Health::kReady);
  EXPECT_NE(text.find("sdxl_up 1\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_setup_phase_seconds{phase=\"model_pull\"} 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_predictions_total{status=\"succeeded\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_predictions_total{status=\"canceled\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_predictions_total{status=\"failed\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_prediction_duration_seconds_bucket{le=\"0.25\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("sdxl_prediction_duration_seconds_bucket{le=\"0.5\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("sdxl_prediction_duration_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_denoise_step_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(text.find("sdxl_output_bytes_total 1234\n"), std::string::npos);
  EXPECT_NE(m.Render(Health::kStarting).find("sdxl_up 0\n"), std::string::npos);
}

}  // namespace
}  // namespace sdxl::serve
