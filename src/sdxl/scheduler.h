#pragma once
// Euler schedules of diffusers' EulerDiscreteScheduler and EulerAncestralDiscreteScheduler.
//
// Pure arithmetic, no tensors: computes the training noise table (betas -> alphas_cumprod ->
// sigmas) and the inference timesteps/sigmas for leading, trailing and linspace spacing exactly as
// diffusers does (float32 where diffusers uses torch float32, float64 where it uses numpy), plus
// the per-step scalar coefficients. The tensor update itself lives with the pipeline, which uses
// these numbers. Values, immutable after construction: safe to share between threads.

#include <vector>

#include "core/status.h"
#include "sdxl/model_config.h"

namespace sdxl::sdxl {

class EulerSchedule {
 public:
  // Builds the schedule for `num_inference_steps` (1..num_train_timesteps).
  [[nodiscard]] static core::Result<EulerSchedule> Create(const SchedulerConfig& config,
                                                          int num_inference_steps);

  bool ancestral() const { return ancestral_; }
  PredictionType prediction_type() const { return prediction_type_; }
  int num_steps() const { return static_cast<int>(timesteps_.size()); }
  // Timestep passed to the UNet at step i (float32, e.g. 999, 749, 499, 249).
  const std::vector<float>& timesteps() const { return timesteps_; }
  // sigmas()[i] for step i; num_steps()+1 entries, the last is 0 (or sigma_min).
  const std::vector<float>& sigmas() const { return sigmas_; }
  // Initial latents are standard normal times this.
  float init_noise_sigma() const { return init_noise_sigma_; }
  // scale_model_input divides the latents by this at step i: sqrt(sigma_i^2 + 1) in float32.
  float input_divisor(int i) const;
  // Ancestral step i: (sigma_up, sigma_down) as diffusers computes them in float32.
  struct Ancestral {
    float sigma_up;
    float sigma_down;
  };
  Ancestral ancestral_sigmas(int i) const;

  // The training table (length num_train_timesteps), float32 like diffusers' alphas_cumprod.
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

 private:
  bool ancestral_ = false;
  PredictionType prediction_type_ = PredictionType::kEpsilon;
  std::vector<float> alphas_cumprod_;
  std::vector<float> timesteps_;
  std::vector<float> sigmas_;
  float init_noise_sigma_ = 1.0f;
};

}  // namespace sdxl::sdxl
