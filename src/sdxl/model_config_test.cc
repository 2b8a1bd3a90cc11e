#include "sdxl/model_config.h"

#include <gtest/gtest.h>

namespace sdxl::sdxl {
namespace {

constexpr const char* kSdxlUNet = R"({"act_fn":"silu","addition_embed_type":"text_time",
 "addition_embed_type_num_heads":64,"addition_time_embed_dim":256,"attention_head_dim":[5,10,20],
 "block_out_channels":[320,640,1280],"center_input_sample":false,"class_embed_type":null,
 "cross_attention_dim":2048,"down_block_types":["DownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D"],
 "downsample_padding":1,"dual_cross_attention":false,"flip_sin_to_cos":true,"freq_shift":0,
 "in_channels":4,"layers_per_block":2,"mid_block_type":"UNetMidBlock2DCrossAttn","norm_eps":1e-05,
 "norm_num_groups":32,"num_attention_heads":null,"out_channels":4,
 "projection_class_embeddings_input_dim":2816,"sample_size":128,"time_cond_proj_dim":null,
 "transformer_layers_per_block":[1,2,10],"up_block_types":["CrossAttnUpBlock2D","CrossAttnUpBlock2D","UpBlock2D"],
 "upcast_attention":null,"use_linear_projection":true})";

TEST(ModelConfig, ParsesSdxlUNet) {
  auto c = ParseUNetConfig(kSdxlUNet, "unet/config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->block_out_channels, (std::vector<int>{320, 640, 1280}));
  EXPECT_EQ(c->num_attention_heads, (std::vector<int>{5, 10, 20}));  // attention_head_dim quirk
  EXPECT_EQ(c->transformer_layers_per_block, (std::vector<int>{1, 2, 10}));
  EXPECT_EQ(c->layers_per_block, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(c->cross_attention_dim, (std::vector<int>{2048, 2048, 2048}));
  EXPECT_EQ(c->time_embed_dim(), 1280);
  EXPECT_EQ(c->addition_embed_type, "text_time");
  EXPECT_TRUE(c->use_linear_projection);
  EXPECT_FALSE(c->time_cond_proj_dim.has_value());
}

TEST(ModelConfig, RejectsMismatchedListsWithKeyName) {
  std::string bad = kSdxlUNet;
  bad.replace(bad.find("[1,2,10]"), 8, "[1,2]");
  auto c = ParseUNetConfig(bad, "unet/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("transformer_layers_per_block"), std::string::npos);
}

TEST(ModelConfig, RejectsInvalidJson) {
  auto c = ParseUNetConfig("{not json", "x.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("x.json"), std::string::npos);
}

TEST(ModelConfig, VaeDefaultsAndScaleFactor) {
  auto c = ParseVaeConfig(R"({"block_out_channels":[128,256,512,512],"scaling_factor":0.13025,
      "force_upcast":false})",
                          "vae/config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->scale_factor(), 8);
  EXPECT_DOUBLE_EQ(c->scaling_factor, 0.13025);
  EXPECT_FALSE(c->force_upcast);
  EXPECT_TRUE(c->use_post_quant_conv);
}

TEST(ModelConfig, SchedulerSpacingAndPrediction) {
  auto c = ParseSchedulerConfig(
      R"({"_class_name":"EulerDiscreteScheduler","beta_schedule":"scaled_linear",
      "beta_start":0.00085,"beta_end":0.012,"timestep_spacing":"trailing","prediction_type":"sample",
      "steps_offset":1,"clip_sample":false})",
      "scheduler_config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->timestep_spacing, TimestepSpacing::kTrailing);
  EXPECT_EQ(c->prediction_type, PredictionType::kSample);
  EXPECT_FALSE(ParseSchedulerConfig(R"({"_class_name":"DDIMScheduler"})", "s.json").ok());
  EXPECT_FALSE(ParseSchedulerConfig(R"({"timestep_spacing":"weird"})", "s.json").ok());
}

}  // namespace
}  // namespace sdxl::sdxl

namespace sdxl::sdxl {
namespace {

TEST(ModelConfig, PipelineIndexNamesTheSchedulerClass) {
  auto c = ParsePipelineConfig(R"({"_class_name":"StableDiffusionXLPipeline",
      "force_zeros_for_empty_prompt":false,
      "scheduler":["diffusers","EulerAncestralDiscreteScheduler"]})",
                               "model_index.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->scheduler_class, "EulerAncestralDiscreteScheduler");
  EXPECT_FALSE(c->force_zeros_for_empty_prompt);
  auto d = ParsePipelineConfig(R"({"_class_name":"StableDiffusionXLPipeline"})", "m.json");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->scheduler_class.empty());
  EXPECT_TRUE(d->force_zeros_for_empty_prompt);
}

}  // namespace
}  // namespace sdxl::sdxl
