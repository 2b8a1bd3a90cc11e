#include "sdxl/request_shaping.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace sdxl::sdxl {
namespace {

using Sizes = std::map<std::string, std::pair<int, int>>;

void ExpectSizes(const PipelineGeometry& g, const Sizes& expected) {
  ASSERT_EQ(expected.size(), AspectRatioNames().size());
  for (const std::string& ratio : AspectRatioNames()) {
    SCOPED_TRACE(ratio);
    ASSERT_TRUE(expected.count(ratio));
    PredictionInput in;
    in.aspect_ratio = ratio;
    const GenerateRequest r = ShapeRequest(in, g, {});
    EXPECT_EQ(r.width, expected.at(ratio).first);
    EXPECT_EQ(r.height, expected.at(ratio).second);
    EXPECT_EQ(r.width % g.size_multiple, 0);
    EXPECT_EQ(r.height % g.size_multiple, 0);
    auto size = SizeForAspectRatio(ratio, g);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(size->width, r.width);
    EXPECT_EQ(size->height, r.height);
  }
}

TEST(RequestShaping, SdxlSizesAreTheTemplates) {
  // The seed template: long side 1024, the other rounded down to a multiple of 32.
  ExpectSizes({1024, 1024, 8}, {{"1:1", {1024, 1024}},
                                {"16:9", {1024, 576}},
                                {"21:9", {1024, 416}},
                                {"3:2", {1024, 672}},
                                {"2:3", {672, 1024}},
                                {"4:5", {832, 1024}},
                                {"5:4", {1024, 832}},
                                {"9:16", {576, 1024}},
                                {"9:21", {416, 1024}},
                                {"4:3", {1024, 768}},
                                {"3:4", {768, 1024}}});
}

TEST(RequestShaping, TinyModelSizesKeepTheirShape) {
  // Long side 64: steps of size_multiple (8), not 32, so 3:2 stays wider than 2:1.
  ExpectSizes({64, 64, 8}, {{"1:1", {64, 64}},
                            {"16:9", {64, 32}},
                            {"21:9", {64, 24}},
                            {"3:2", {64, 40}},
                            {"2:3", {40, 64}},
                            {"4:5", {48, 64}},
                            {"5:4", {64, 48}},
                            {"9:16", {32, 64}},
                            {"9:21", {24, 64}},
                            {"4:3", {64, 48}},
                            {"3:4", {48, 64}}});
}

TEST(RequestShaping, OddGeometries) {
  // The long side is the larger default; a coarse VAE multiple is respected and is the minimum.
  auto s = SizeForAspectRatio("16:9", PipelineGeometry{512, 1024, 8});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 1024);
  EXPECT_EQ(s->height, 576);
  s = SizeForAspectRatio("21:9", PipelineGeometry{64, 64, 16});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 64);
  EXPECT_EQ(s->height, 16);  // 26.7 -> 16
  s = SizeForAspectRatio("9:21", PipelineGeometry{16, 16, 16});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->width, 16);  // never below the multiple
  EXPECT_EQ(s->height, 16);
  s = SizeForAspectRatio("7:3", PipelineGeometry{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("16:9"), std::string::npos);
}

TEST(RequestShaping, CopiesTheInput) {
  PredictionInput in;
  in.prompt = "a (tiger)1.2 in the snow";
  in.negative_prompt = "blurry";
  in.num_outputs = 3;
  in.guidance_scale = 3.5;
  in.num_inference_steps = 8;
  in.seed = 42;
  const GenerateRequest r = ShapeRequest(in, {}, {});
  EXPECT_EQ(r.prompt, in.prompt);
  EXPECT_EQ(r.negative_prompt, "blurry");
  EXPECT_EQ(r.num_outputs, 3);
  EXPECT_EQ(r.guidance, 3.5);
  EXPECT_EQ(r.steps, 8);
  EXPECT_EQ(r.seed, 42u);
  EXPECT_TRUE(r.prompt_weighting);  // the template encodes prompts with compel
  EXPECT_EQ(r.width, 1024);
  EXPECT_EQ(r.height, 1024);
  EXPECT_FALSE(r.on_step);
}

TEST(RequestShaping, StepsFromTheRecipeWhenNull) {
  PredictionInput in;
  in.num_inference_steps.reset();
  const GenerateRequest r = ShapeRequest(in, {}, {.num_inference_steps = 30});
  EXPECT_EQ(r.steps, 30);
  // And a parsed body without the key gets the recipe's number too.
  auto parsed = ParsePredictionInput({{"prompt", "x"}}, {.num_inference_steps = 12});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ShapeRequest(parsed.input, {}, {.num_inference_steps = 12}).steps, 12);
}

TEST(RequestShaping, NegativeSeedIsTorchsTwosComplement) {
  PredictionInput in;
  in.seed = -1;
  EXPECT_EQ(ShapeRequest(in, {}, {}).seed, 0xFFFFFFFFFFFFFFFFull);
}

TEST(RequestShaping, SeedIsDrawnWhenAbsent) {
  PredictionInput in;  // no seed
  std::set<uint64_t> seen;
  for (int i = 0; i < 64; ++i) {
    const uint64_t seed = ShapeRequest(in, {}, {}).seed;
    EXPECT_LE(seed, 65535u);
    seen.insert(seed);
    const uint64_t drawn = DrawSeed();
    EXPECT_LE(drawn, 65535u);
    seen.insert(drawn);
  }
  // 128 draws from 65536 values: all equal has probability ~0.
  EXPECT_GT(seen.size(), 1u);
}

TEST(RequestShaping, ParseDevice) {
  EXPECT_EQ(*ParseDevice("auto"), DeviceKind::kAuto);
  EXPECT_EQ(*ParseDevice("cpu"), DeviceKind::kCpu);
  EXPECT_EQ(*ParseDevice("CUDA"), DeviceKind::kCuda);
  auto bad = ParseDevice("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("auto, cpu or cuda"), std::string::npos);
  EXPECT_FALSE(ParseDevice("").ok());
  EXPECT_FALSE(ParseDevice("cuda:0").ok());
}

TEST(RequestShaping, ParseDtype) {
  EXPECT_EQ(*ParseDtype("auto"), ComputeDtype::kAuto);
  EXPECT_EQ(*ParseDtype("fp32"), ComputeDtype::kFloat32);
  EXPECT_EQ(*ParseDtype("fp16"), ComputeDtype::kFloat16);
  EXPECT_EQ(*ParseDtype("bf16"), ComputeDtype::kBFloat16);
  EXPECT_EQ(*ParseDtype("bfloat16"), ComputeDtype::kBFloat16);  // dtype_name()'s spelling
  EXPECT_EQ(*ParseDtype("FP16"), ComputeDtype::kFloat16);
  auto bad = ParseDtype("int8");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fp32, fp16 or bf16"), std::string::npos);
}

}  // namespace
}  // namespace sdxl::sdxl
