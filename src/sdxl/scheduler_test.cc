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

}  // namespace
}  // namespace sdxl::sdxl
