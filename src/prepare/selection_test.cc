#include "prepare/selection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sdxl::prepare {
namespace {

const char* kSdxlIndex = R"({"_class_name": "StableDiffusionXLPipeline",
  "_diffusers_version": "0.19.0.dev0", "force_zeros_for_empty_prompt": true,
  "add_watermarker": null, "feature_extractor": [null, null], "image_encoder": [null, null],
  "scheduler": ["diffusers", "EulerDiscreteScheduler"],
  "text_encoder": ["transformers", "CLIPTextModel"],
  "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
  "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
  "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})";

// The file list of stabilityai/stable-diffusion-xl-base-1.0 (abridged: every kind of file).
Listing SdxlBaseListing() {
  Listing l;
  l.origin = "stabilityai/stable-diffusion-xl-base-1.0";
  for (const char* p : {"01.png",
                        "LICENSE.md",
                        "README.md",
                        "model_index.json",
                        "sd_xl_base_1.0.safetensors",
                        "sd_xl_base_1.0_0.9vae.safetensors",
                        "sd_xl_offset_example-lora_1.0.safetensors",
                        "scheduler/scheduler_config.json",
                        "text_encoder/config.json",
                        "text_encoder/flax_model.msgpack",
                        "text_encoder/model.fp16.safetensors",
                        "text_encoder/model.onnx",
                        "text_encoder/model.safetensors",
                        "text_encoder/openvino_model.bin",
                        "text_encoder/openvino_model.xml",
                        "text_encoder_2/config.json",
                        "text_encoder_2/model.fp16.safetensors",
                        "text_encoder_2/model.onnx",
                        "text_encoder_2/model.onnx_data",
                        "text_encoder_2/model.safetensors",
                        "tokenizer/merges.txt",
                        "tokenizer/special_tokens_map.json",
                        "tokenizer/tokenizer_config.json",
                        "tokenizer/vocab.json",
                        "tokenizer_2/merges.txt",
                        "tokenizer_2/special_tokens_map.json",
                        "tokenizer_2/tokenizer_config.json",
                        "tokenizer_2/vocab.json",
                        "unet/config.json",
                        "unet/diffusion_flax_model.msgpack",
                        "unet/diffusion_pytorch_model.fp16.safetensors",
                        "unet/diffusion_pytorch_model.onnx",
                        "unet/diffusion_pytorch_model.safetensors",
                        "unet/model.onnx_data",
                        "unet/openvino_model.bin",
                        "unet/openvino_model.xml",
                        "vae/config.json",
                        "vae/diffusion_flax_model.msgpack",
                        "vae/diffusion_pytorch_model.fp16.safetensors",
                        "vae/diffusion_pytorch_model.safetensors",
                        "vae_1_0/config.json",
                        "vae_1_0/diffusion_pytorch_model.fp16.safetensors",
                        "vae_1_0/diffusion_pytorch_model.safetensors",
                        "vae_decoder/config.json",
                        "vae_decoder/model.onnx",
                        "vae_encoder/config.json",
                        "vae_encoder/model.onnx",
                        "unet/diffusion_pytorch_model.bin",
                        "text_encoder/pytorch_model.bin"}) {
    l.files.push_back({p, 100});
  }
  return l;
}

std::vector<std::pair<std::string, std::string>> Pairs(const Selection& s) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : s.files) out.emplace_back(f.src_path, f.dest_path);
  return out;
}

TEST(Selection, SdxlBaseTakesExactlyThePipelineWithFp16Variant) {
  auto sel = SelectSdxlFiles(SdxlBaseListing(), kSdxlIndex);
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_TRUE(sel->fp16_variant);
  std::vector<std::pair<std::string, std::string>> want = {
      {"model_index.json", "model_index.json"},
      {"scheduler/scheduler_config.json", "scheduler/scheduler_config.json"},
      {"text_encoder/config.json", "text_encoder/config.json"},
      {"text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors"},
      {"text_encoder_2/config.json", "text_encoder_2/config.json"},
      {"text_encoder_2/model.fp16.safetensors", "text_encoder_2/model.safetensors"},
      {"tokenizer/merges.txt", "tokenizer/merges.txt"},
      {"tokenizer/special_tokens_map.json", "tokenizer/special_tokens_map.json"},
      {"tokenizer/tokenizer_config.json", "tokenizer/tokenizer_config.json"},
      {"tokenizer/vocab.json", "tokenizer/vocab.json"},
      {"tokenizer_2/merges.txt", "tokenizer_2/merges.txt"},
      {"tokenizer_2/special_tokens_map.json", "tokenizer_2/special_tokens_map.json"},
      {"tokenizer_2/tokenizer_config.json", "tokenizer_2/tokenizer_config.json"},
      {"tokenizer_2/vocab.json", "tokenizer_2/vocab.json"},
      {"unet/config.json", "unet/config.json"},
      {"unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors"},
      {"vae/config.json", "vae/config.json"},
      {"vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors"},
  };
  EXPECT_EQ(Pairs(*sel), want);
  for (const char* junk :
       {"sd_xl_base_1.0.safetensors", "unet/diffusion_pytorch_model.bin", "text_encoder/model.onnx",
        "vae_1_0/diffusion_pytorch_model.safetensors", "unet/openvino_model.xml",
        "unet/diffusion_flax_model.msgpack", "unet/diffusion_pytorch_model.safetensors"}) {
    EXPECT_NE(std::find(sel->skipped.begin(), sel->skipped.end(), junk), sel->skipped.end())
        << junk;
  }
}

TEST(Selection, PlainWeightsWhenNoVariantAndShardedVariants) {
  Listing l;
  l.origin = "KBlueLeaf/Kohaku-XL-Zeta";
  for (const char* p :
       {"model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
        "text_encoder/model.safetensors", "text_encoder_2/config.json",
        "text_encoder_2/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt",
        "tokenizer_2/vocab.json", "tokenizer_2/merges.txt", "unet/config.json",
        "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
        "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
        "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
        "unet/diffusion_pytorch_model-00001-of-00003.safetensors",
        "unet/diffusion_pytorch_model.safetensors.index.json", "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors", "kohaku-xl-zeta.safetensors"}) {
    l.files.push_back({p, 1});
  }
  auto sel = SelectSdxlFiles(l, kSdxlIndex);
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  auto pairs = Pairs(*sel);
  auto has = [&](const std::string& s, const std::string& d) {
    return std::find(pairs.begin(), pairs.end(), std::make_pair(s, d)) != pairs.end();
  };
  EXPECT_TRUE(has("text_encoder/model.safetensors", "text_encoder/model.safetensors"));
  EXPECT_TRUE(has("unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                  "unet/diffusion_pytorch_model-00001-of-00002.safetensors"));
  EXPECT_TRUE(has("unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                  "unet/diffusion_pytorch_model.safetensors.index.json"));
  EXPECT_FALSE(has("unet/diffusion_pytorch_model-00001-of-00003.safetensors",
                   "unet/diffusion_pytorch_model-00001-of-00003.safetensors"));
  EXPECT_FALSE(has("kohaku-xl-zeta.safetensors", "kohaku-xl-zeta.safetensors"));
}

TEST(Selection, RefusesNonSdxlWithAReason) {
  Listing l;
  l.origin = "org/x";
  l.files.push_back({"model_index.json", 1});
  auto sd15 = SelectSdxlFiles(l, R"({"_class_name": "StableDiffusionPipeline"})");
  ASSERT_FALSE(sd15.ok());
  EXPECT_NE(sd15.status().message().find("StableDiffusionPipeline"), std::string::npos);
  EXPECT_NE(sd15.status().message().find("not an SDXL diffusers pipeline"), std::string::npos);

  auto refiner = SelectSdxlFiles(l, R"({"_class_name": "StableDiffusionXLImg2ImgPipeline"})");
  ASSERT_FALSE(refiner.ok());
  EXPECT_NE(refiner.status().message().find("refiner"), std::string::npos);

  auto garbage = SelectSdxlFiles(l, "not json");
  EXPECT_FALSE(garbage.ok());

  // Only pickle weights for the UNet.
  auto listing = SdxlBaseListing();
  listing.files.erase(std::remove_if(listing.files.begin(), listing.files.end(),
                                     [](const Listing::Entry& e) {
                                       return e.path.rfind("unet/", 0) == 0 &&
                                              e.path.find(".safetensors") != std::string::npos;
                                     }),
                      listing.files.end());
  auto pickle = SelectSdxlFiles(listing, kSdxlIndex);
  ASSERT_FALSE(pickle.ok());
  EXPECT_NE(pickle.status().message().find("'unet' has no .safetensors"), std::string::npos);

  // A missing component folder.
  auto no_vae = SdxlBaseListing();
  no_vae.files.erase(
      std::remove_if(no_vae.files.begin(), no_vae.files.end(),
                     [](const Listing::Entry& e) { return e.path.rfind("vae/", 0) == 0; }),
      no_vae.files.end());
  auto r = SelectSdxlFiles(no_vae, kSdxlIndex);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("vae/ is missing"), std::string::npos);
}

// HF_HUB_OFFLINE: the base repo's listing is its cached snapshot, which holds only what an earlier
// Lightning run downloaded: every file of the pipeline but the UNet weights.
TEST(Selection, UnetWeightsMayComeFromARecipe) {
  Listing cached;
  cached.origin = "stabilityai/stable-diffusion-xl-base-1.0";
  for (const auto& e : SdxlBaseListing().files) {
    const bool unet_weights = e.path.starts_with("unet/") && !e.path.ends_with(".json");
    if (!unet_weights) cached.files.push_back(e);
  }
  auto refused = SelectSdxlFiles(cached, kSdxlIndex);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'unet' has no .safetensors"), std::string::npos);

  auto sel = SelectSdxlFiles(cached, kSdxlIndex, {"unet"});
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  auto pairs = Pairs(*sel);
  EXPECT_NE(std::find(pairs.begin(), pairs.end(),
                      std::pair<std::string, std::string>{"unet/config.json", "unet/config.json"}),
            pairs.end());
  for (const auto& f : sel->files) {
    EXPECT_FALSE(f.dest_path.starts_with("unet/") && f.kind == SelectedFile::Kind::kWeights)
        << f.dest_path;
  }
  // Other components still need their weights.
  Listing no_vae = cached;
  std::erase_if(no_vae.files, [](const Listing::Entry& e) {
    return e.path.starts_with("vae/") && e.path.ends_with(".safetensors");
  });
  EXPECT_FALSE(SelectSdxlFiles(no_vae, kSdxlIndex, {"unet"}).ok());
}

TEST(Selection, StripVariantAndRewriteIndex) {
  EXPECT_EQ(StripVariant("model.fp16.safetensors"), "model.safetensors");
  EXPECT_EQ(StripVariant("diffusion_pytorch_model.fp16-00001-of-00002.safetensors"),
            "diffusion_pytorch_model-00001-of-00002.safetensors");
  EXPECT_EQ(StripVariant("diffusion_pytorch_model.safetensors.index.fp16.json"),
            "diffusion_pytorch_model.safetensors.index.json");
  EXPECT_EQ(StripVariant("config.json"), "config.json");
  auto r = RewriteShardIndex(R"({"metadata": {"total_size": 4},
      "weight_map": {"a": "x.fp16-00001-of-00002.safetensors",
                     "b": "x.fp16-00002-of-00002.safetensors"}})");
  ASSERT_TRUE(r.ok());
  auto j = nlohmann::json::parse(*r);
  EXPECT_EQ(j["weight_map"]["a"], "x-00001-of-00002.safetensors");
  EXPECT_EQ(j["metadata"]["total_size"], 4);
  EXPECT_FALSE(RewriteShardIndex("[]").ok());
}

}  // namespace
}  // namespace sdxl::prepare
