#include "sdxl/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sdxl::sdxl {
namespace {

SchedulerConfig SdxlBase(TimestepSpacing spacing) {
  SchedulerConfig c;
  c.beta_start = 0.00085;
  c.beta_end = 0.012;
  c.beta_schedule = "scaled_linear";
  c.steps_offset = 1;
  c.timestep_spacing = spacing;
  return c;
}

TEST(EulerSchedule, LightningTrailingFourSteps) {
  auto s = EulerSchedule::Create(SdxlBase(TimestepSpacing::kTrailing), 4);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->timesteps(), (std::vector<float>{999, 749, 499, 249}));
  const std::vector<double> expected = {14.614641, 4.081729, 1.612886, 0.693205, 0.0};
  ASSERT_EQ(s->sigmas().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(s->sigmas()[i], expected[i], 2e-5);
  EXPECT_NEAR(s->init_noise_sigma(), 14.614641, 2e-5);  // trailing: max sigma, no +1
  EXPECT_NEAR(s->input_divisor(0), std::sqrt(14.614641 * 14.614641 + 1), 1e-4);
}

TEST(EulerSchedule, LeadingTwoStepsMatchesDiffusersDummyConfig) {
  auto s = EulerSchedule::Create(SdxlBase(TimestepSpacing::kLeading), 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->timesteps(), (std::vector<float>{501, 1}));
  EXPECT_NEAR(s->sigmas()[0], 1.623692, 2e-6);
  EXPECT_NEAR(s->sigmas()[1], 0.041314, 2e-6);
  EXPECT_EQ(s->sigmas()[2], 0.0f);
  EXPECT_NEAR(s->init_noise_sigma(), 1.906928, 2e-6);  // leading: sqrt(max^2 + 1)
}

TEST(EulerSchedule, LinspaceInterpolatesFractionalTimesteps) {
  auto s = EulerSchedule::Create(SdxlBase(TimestepSpacing::kLinspace), 4);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->timesteps()[0], 999.0f);
  EXPECT_EQ(s->timesteps()[3], 0.0f);
  EXPECT_NEAR(s->timesteps()[1], 666.0f, 1e-3);
  // sigma is monotone decreasing and interpolated between table entries.
  for (int i = 0; i + 1 < 4; ++i) EXPECT_GT(s->sigmas()[i], s->sigmas()[i + 1]);
}

TEST(EulerSchedule, RejectsBadStepCounts) {
  EXPECT_FALSE(EulerSchedule::Create(SdxlBase(TimestepSpacing::kTrailing), 0).ok());
  EXPECT_FALSE(EulerSchedule::Create(SdxlBase(TimestepSpacing::kTrailing), 1001).ok());
}

TEST(EulerSchedule, AncestralSigmasSplitTheStep) {
  auto c = SdxlBase(TimestepSpacing::kTrailing);
  c.class_name = "EulerAncestralDiscreteScheduler";
  auto s = EulerSchedule::Create(c, 4);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->ancestral());
  for (int i = 0; i < 4; ++i) {
    auto a = s->ancestral_sigmas(i);
    const double to = s->sigmas()[i + 1];
    // sigma_down^2 + sigma_up^2 == sigma_to^2
    EXPECT_NEAR(a.sigma_down * a.sigma_down + a.sigma_up * a.sigma_up, to * to, 1e-4);
  }
  EXPECT_EQ(s->ancestral_sigmas(3).sigma_up, 0.0f);
}

// diffusers tests/schedulers/test_scheduler_euler.py config: linear betas, 1100 train steps.
TEST(EulerSchedule, LinearBetasLongTable) {
  SchedulerConfig c;
  c.num_train_timesteps = 1100;
  c.beta_start = 0.0001;
  c.beta_end = 0.02;
  auto s = EulerSchedule::Create(c, 10);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->num_steps(), 10);
  EXPECT_EQ(s->timesteps()[0], 1099.0f);
  EXPECT_EQ(s->alphas_cumprod().size(), 1100u);
}

// The scheduler variants a model's scheduler_config.json may set: trained betas are used as
// given (and win over beta_schedule, as in diffusers); the ones the engine cannot honour are
// refused with a message that names the setting, never silently ignored.
TEST(EulerSchedule, TrainedBetasAreUsedAsGiven) {
  const auto base = EulerSchedule::Create(SdxlBase(TimestepSpacing::kTrailing), 4);
  ASSERT_TRUE(base.ok());
  // The scaled_linear table, written out: the same schedule must come back.
  SchedulerConfig c = SdxlBase(TimestepSpacing::kTrailing);
  c.beta_schedule = "not-a-schedule";  // ignored when trained_betas is set
  double prev = 1.0;
  for (float ac : base->alphas_cumprod()) {
    c.trained_betas.push_back(1.0 - static_cast<double>(ac) / prev);
    prev = ac;
  }
  const auto trained = EulerSchedule::Create(c, 4);
  ASSERT_TRUE(trained.ok()) << trained.status().message();
  EXPECT_EQ(trained->timesteps(), base->timesteps());
  for (size_t i = 0; i < base->sigmas().size(); ++i) {
    EXPECT_NEAR(trained->sigmas()[i], base->sigmas()[i], 1e-3 * (1 + base->sigmas()[i]));
  }
  // Other betas give another schedule (the table is really read).
  for (double& b : c.trained_betas) b *= 0.5;
  const auto halved = EulerSchedule::Create(c, 4);
  ASSERT_TRUE(halved.ok());
  EXPECT_LT(halved->sigmas()[0], base->sigmas()[0] * 0.9);
}

TEST(EulerSchedule, UnsupportedVariantsAreRefusedByName) {
  SchedulerConfig c = SdxlBase(TimestepSpacing::kTrailing);
  c.trained_betas = {0.1, 0.2};  // not num_train_timesteps entries
  auto wrong_length = EulerSchedule::Create(c, 4);
  ASSERT_FALSE(wrong_length.ok());
  EXPECT_NE(wrong_length.status().message().find("trained_betas"), std::string::npos);

  c = SdxlBase(TimestepSpacing::kTrailing);
  c.rescale_betas_zero_snr = true;
  auto zero_snr = EulerSchedule::Create(c, 4);
  ASSERT_FALSE(zero_snr.ok());
  EXPECT_EQ(zero_snr.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(zero_snr.status().message().find("rescale_betas_zero_snr"), std::string::npos);

  c = SdxlBase(TimestepSpacing::kTrailing);
  c.beta_schedule = "sigmoid";
  auto schedule = EulerSchedule::Create(c, 4);
  ASSERT_FALSE(schedule.ok());
  EXPECT_NE(schedule.status().message().find("\"sigmoid\""), std::string::npos);
  EXPECT_NE(schedule.status().message().find("scaled_linear"), std::string::npos);

  c = SdxlBase(TimestepSpacing::kTrailing);
  c.class_name = "EulerAncestralDiscreteScheduler";
  c.prediction_type = PredictionType::kSample;
  EXPECT_FALSE(EulerSchedule::Create(c, 4).ok());
}

}  // namespace
}  // namespace sdxl::sdxl
