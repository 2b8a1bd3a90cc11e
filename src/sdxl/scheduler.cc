#include "sdxl/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace sdxl::sdxl {
namespace {

// torch.linspace(start, end, n, dtype=float32) on CPU (scalar path of ATen's linspace kernel).
std::vector<float> TorchLinspaceF32(double start_d, double end_d, int n) {
  const float start = static_cast<float>(start_d);
  const float end = static_cast<float>(end_d);
  std::vector<float> out(n);
  if (n == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(n - 1);
  const int halfway = n / 2;
  for (int i = 0; i < n; ++i) {
    out[i] = i < halfway ? start + step * static_cast<float>(i)
                         : end - step * static_cast<float>(n - i - 1);
  }
  return out;
}

// numpy.interp(x, arange(len(fp)), fp) for x inside [0, len-1], computed in float64.
double Interp(double x, const std::vector<float>& fp) {
  const int n = static_cast<int>(fp.size());
  if (x <= 0) return fp[0];
  if (x >= n - 1) return fp[n - 1];
  const int j = static_cast<int>(std::floor(x));
  if (static_cast<double>(j) == x) return fp[j];
  const double slope = (static_cast<double>(fp[j + 1]) - fp[j]);  // xp spacing is 1
  return slope * (x - j) + fp[j];
}

// numpy.round: half to even.
double RoundHalfEven(double v) { return std::nearbyint(v); }

}  // namespace

core::Result<EulerSchedule> EulerSchedule::Create(const SchedulerConfig& c, int n) {
  const int T = c.num_train_timesteps;
  if (n < 1 || n > T) {
    return core::InvalidArgument("number of steps must be between 1 and " + std::to_string(T) +
                                 " (got " + std::to_string(n) + ")");
  }
  if (c.rescale_betas_zero_snr) {
    return core::InvalidArgument(
        "scheduler config sets rescale_betas_zero_snr, which this engine does not support");
  }
  EulerSchedule s;
  s.ancestral_ = c.class_name == "EulerAncestralDiscreteScheduler";
  s.prediction_type_ = c.prediction_type;
  if (s.ancestral_ && c.prediction_type == PredictionType::kSample) {
    return core::InvalidArgument(
        "EulerAncestralDiscreteScheduler does not support prediction_type \"sample\" (diffusers "
        "neither); use EulerDiscreteScheduler");
  }

  // Betas (float32 like diffusers' torch tensors).
  std::vector<float> betas;
  if (!c.trained_betas.empty()) {
    if (static_cast<int>(c.trained_betas.size()) != T) {
      return core::InvalidArgument("trained_betas must have num_train_timesteps entries");
    }
    for (double b : c.trained_betas) betas.push_back(static_cast<float>(b));
  } else if (c.beta_schedule == "linear") {
    betas = TorchLinspaceF32(c.beta_start, c.beta_end, T);
  } else if (c.beta_schedule == "scaled_linear") {
    betas = TorchLinspaceF32(std::sqrt(c.beta_start), std::sqrt(c.beta_end), T);
    for (float& b : betas) b = b * b;
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    auto alpha_bar = [](double t) {
      const double v = std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2);
      return v * v;
    };
    for (int i = 0; i < T; ++i) {
      const double t1 = static_cast<double>(i) / T, t2 = static_cast<double>(i + 1) / T;
      betas.push_back(static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999)));
    }
  } else {
    return core::InvalidArgument("unsupported beta_schedule \"" + c.beta_schedule +
                                 "\" (supported: linear, scaled_linear, squaredcos_cap_v2)");
  }

  // alphas_cumprod: torch.cumprod on float32 accumulates in double on CPU, storing float.
  s.alphas_cumprod_.resize(T);
  double acc = 1.0;
  for (int i = 0; i < T; ++i) {
    const float alpha = 1.0f - betas[i];
    acc *= static_cast<double>(alpha);
    s.alphas_cumprod_[i] = static_cast<float>(acc);
  }
  std::vector<float> train_sigmas(T);
  for (int i = 0; i < T; ++i) {
    const float ac = s.alphas_cumprod_[i];
    train_sigmas[i] = std::sqrt((1.0f - ac) / ac);
  }

  // Timesteps (numpy float64, cast to float32).
  std::vector<double> ts;
  switch (c.timestep_spacing) {
    case TimestepSpacing::kLinspace: {
      // np.linspace(0, T-1, n, dtype=float32)[::-1]
      const double stop = T - 1;
      for (int i = 0; i < n; ++i) {
        double v = n > 1 ? i * (stop / (n - 1)) : 0.0;
        if (n > 1 && i == n - 1) v = stop;
        ts.push_back(static_cast<float>(v));
      }
      std::reverse(ts.begin(), ts.end());
      break;
    }
    case TimestepSpacing::kLeading: {
      const int ratio = T / n;
      for (int i = n - 1; i >= 0; --i) {
        ts.push_back(static_cast<float>(static_cast<double>(i) * ratio) +
                     static_cast<float>(c.steps_offset));
      }
      break;
    }
    case TimestepSpacing::kTrailing: {
      // np.arange(T, 0, -T/n).round() - 1; numpy's length is ceil((stop-start)/step).
      const double step = -static_cast<double>(T) / n;
      const auto len = static_cast<int>(std::ceil((0.0 - T) / step));
      for (int i = 0; i < len; ++i) {
        ts.push_back(static_cast<float>(RoundHalfEven(T + i * step)) - 1.0f);
      }
      break;
    }
  }
  for (double t : ts) {
    s.timesteps_.push_back(static_cast<float>(t));
    s.sigmas_.push_back(static_cast<float>(Interp(static_cast<float>(t), train_sigmas)));
  }
  if (!s.ancestral_ && c.final_sigmas_type == "sigma_min") {
    const float ac0 = s.alphas_cumprod_[0];
    s.sigmas_.push_back(std::sqrt((1.0f - ac0) / ac0));
  } else {
    s.sigmas_.push_back(0.0f);
  }

  const float max_sigma = *std::max_element(s.sigmas_.begin(), s.sigmas_.end());
  if (c.timestep_spacing == TimestepSpacing::kLinspace ||
      c.timestep_spacing == TimestepSpacing::kTrailing) {
    s.init_noise_sigma_ = max_sigma;
  } else {
    s.init_noise_sigma_ = std::sqrt(max_sigma * max_sigma + 1.0f);
  }
  return s;
}

float EulerSchedule::input_divisor(int i) const {
  const float s = sigmas_.at(i);
  return std::sqrt(s * s + 1.0f);
}

EulerSchedule::Ancestral EulerSchedule::ancestral_sigmas(int i) const {
  const float from = sigmas_.at(i);
  const float to = sigmas_.at(i + 1);
  const float from2 = from * from, to2 = to * to;
  const float up = std::sqrt(to2 * (from2 - to2) / from2);
  const float down = std::sqrt(to2 - up * up);
  return {up, down};
}

}  // namespace sdxl::sdxl
