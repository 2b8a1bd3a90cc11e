#include "prepare/recipe.h"

#include <gtest/gtest.h>

namespace sdxl::prepare {
namespace {

TEST(Recipe, LightningRepoAndUnetFile) {
  EXPECT_TRUE(IsLightningRepo("ByteDance/SDXL-Lightning"));
  EXPECT_TRUE(IsLightningRepo("bytedance/sdxl-lightning"));
  EXPECT_FALSE(IsLightningRepo("ByteDance/SDXL-Lightning2"));
  EXPECT_EQ(LightningUnetFile(4).value(), "sdxl_lightning_4step_unet.safetensors");
  EXPECT_EQ(LightningUnetFile(2).value(), "sdxl_lightning_2step_unet.safetensors");
  EXPECT_FALSE(LightningUnetFile(3).ok());
  EXPECT_FALSE(LightningUnetFile(1).ok());
}

TEST(Recipe, SchedulerBecomesTrailingEuler) {
  auto r = PatchSchedulerForLightning(
      R"({"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "leading",
          "steps_offset": 1, "beta_end": 0.012})");
  ASSERT_TRUE(r.ok());
  auto j = nlohmann::json::parse(*r);
  EXPECT_EQ(j["timestep_spacing"], "trailing");
  EXPECT_EQ(j["_class_name"], "EulerDiscreteScheduler");
  EXPECT_EQ(j["steps_offset"], 1);
  EXPECT_DOUBLE_EQ(j["beta_end"].get<double>(), 0.012);
  EXPECT_FALSE(PatchSchedulerForLightning("[1]").ok());
}

TEST(Recipe, LightningReplacesTheUnetWeights) {
  Selection base;
  base.files = {
      {"base", "model_index.json", "model_index.json", SelectedFile::Kind::kConfig},
      {"base", "scheduler/scheduler_config.json", "scheduler/scheduler_config.json",
       SelectedFile::Kind::kConfig},
      {"base", "unet/config.json", "unet/config.json", SelectedFile::Kind::kConfig},
      {"base", "unet/diffusion_pytorch_model.fp16.safetensors",
       "unet/diffusion_pytorch_model.safetensors", SelectedFile::Kind::kWeights},
      {"base", "vae/diffusion_pytorch_model.fp16.safetensors",
       "vae/diffusion_pytorch_model.safetensors", SelectedFile::Kind::kWeights},
  };
  Listing light;
  light.origin = "ByteDance/SDXL-Lightning";
  light.files = {{"sdxl_lightning_4step_unet.safetensors", 55},
                 {"sdxl_lightning_8step_unet.safetensors", 56},
                 {"sdxl_lightning_4step.safetensors", 99}};
  auto r = ApplyLightningRecipe(base, light, 8);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->files.size(), 5u);
  const auto& unet = r->files[3];
  EXPECT_EQ(unet.dest_path, "unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(unet.origin, "ByteDance/SDXL-Lightning");
  EXPECT_EQ(unet.src_path, "sdxl_lightning_8step_unet.safetensors");
  EXPECT_EQ(unet.size, 56u);
  EXPECT_EQ(r->files[1].kind, SelectedFile::Kind::kLightningScheduler);
  EXPECT_EQ(r->files[4].origin, "base");

  auto missing = ApplyLightningRecipe(base, light, 2);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("sdxl_lightning_2step_unet.safetensors"),
            std::string::npos);
}

}  // namespace
}  // namespace sdxl::prepare
