// Unit tests for the inference preparation of the SDXL blocks (fused attention projections,
// channels-last convolutions, precomputed cross-attention keys/values) and for the caching CPU
// allocator. Numerical parity with diffusers lives in tests/parity (UNet, VAE, pipeline).
#include <gtest/gtest.h>

#include "sdxl/cpu_caching_allocator.h"
#include "sdxl/nn_blocks.h"
#include "sdxl/unet.h"

namespace sdxl::sdxl {
namespace {

void Randomize(torch::nn::Module& m, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& p : m.parameters()) p.copy_(torch::randn(p.sizes()) * 0.2);
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

std::map<std::string, torch::Tensor> StateCopy(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> s;
  for (auto& p : m.named_parameters()) s[p.key()] = p.value().clone();
  return s;
}

TEST(NnBlocksTest, FusedSelfAttentionMatchesAndKeepsTheStateDict) {
  c10::InferenceMode guard;
  Attention attn(AttentionOptions{.query_dim = 32, .heads = 2, .dim_head = 16, .bias = true});
  Randomize(*attn, 1);
  const auto before = StateCopy(*attn);
  auto x = torch::randn({2, 10, 32});
  auto ref = attn(x);
  PrepareForInference(*attn, /*channels_last=*/false);
  EXPECT_LE(MaxDiff(attn(x), ref), 1e-5);
  // Same names, shapes and values; to_q/to_k/to_v are now views of one fused weight.
  auto after = attn->named_parameters();
  ASSERT_EQ(after.size(), before.size());
  for (auto& p : after) EXPECT_TRUE(torch::equal(p.value(), before.at(p.key()))) << p.key();
  EXPECT_EQ(after["to_q.weight"].data_ptr<float>() + 32 * 32,
            after["to_k.weight"].data_ptr<float>());
  // Writing a parameter (as a weight reload does) updates the fused projection.
  {
    torch::NoGradGuard no_grad;
    after["to_v.weight"].mul_(2.0);
  }
  EXPECT_GT(MaxDiff(attn(x), ref), 1e-3);
}

TEST(NnBlocksTest, CrossAttentionWithPrecomputedKeysValuesIsIdentical) {
  c10::InferenceMode guard;
  BasicTransformerBlock block(/*dim=*/32, /*heads=*/2, /*dim_head=*/16, /*cross=*/24);
  Randomize(*block, 2);
  auto x = torch::randn({2, 12, 32});
  auto ctx = torch::randn({2, 7, 24});
  auto ref = block(x, ctx);
  PrepareForInference(*block, false);
  auto fused = block(x, ctx);
  EXPECT_LE(MaxDiff(fused, ref), 1e-5);
  auto kv = block->ProjectContext(ctx);  // (B, S, 2 * inner)
  EXPECT_EQ(kv.sizes(), (std::vector<int64_t>{2, 7, 64}));
  EXPECT_TRUE(torch::equal(block(x, ctx, kv), fused));
}

TEST(NnBlocksTest, ChannelsLastBlocksMatchNchwAndKeepTheFormat) {
  c10::InferenceMode guard;
  const auto cl = at::MemoryFormat::ChannelsLast;
  ResnetBlock2D res(/*in=*/32, /*out=*/64, /*temb=*/16, /*groups=*/8, 1e-5);
  Transformer2D tr(/*heads=*/2, /*dim_head=*/32, /*in=*/64, /*layers=*/1, /*cross=*/24,
                   /*groups=*/8, /*linear_projection=*/true);
  Transformer2D tr_conv(2, 32, 64, 1, 24, 8, /*linear_projection=*/false);
  Attention vae_attn(AttentionOptions{.query_dim = 64,
                                      .heads = 1,
                                      .dim_head = 64,
                                      .bias = true,
                                      .norm_num_groups = 8,
                                      .norm_eps = 1e-6,
                                      .residual_connection = true});
  Upsample2D up(64);
  Randomize(*res, 3), Randomize(*tr, 4), Randomize(*tr_conv, 5), Randomize(*vae_attn, 6);
  Randomize(*up, 7);
  auto x = torch::randn({2, 32, 12, 10});
  auto temb = torch::randn({2, 16});
  auto ctx = torch::randn({2, 5, 24});
  auto run = [&](const torch::Tensor& in) {
    auto h = res(in, temb);
    h = tr(h, ctx);
    h = tr_conv(h, ctx);
    h = vae_attn(h);
    return up(h);
  };
  auto ref = run(x);
  for (torch::nn::Module* m : std::initializer_list<torch::nn::Module*>{
           res.get(), tr.get(), tr_conv.get(), vae_attn.get(), up.get()}) {
    PrepareForInference(*m, /*channels_last=*/true);
  }
  auto got = run(x.contiguous(cl));
  EXPECT_TRUE(got.is_contiguous(cl));
  EXPECT_LE(MaxDiff(got, ref), 1e-4);
  // NCHW input still works on channels-last weights (and stays NCHW where the ops keep it).
  EXPECT_LE(MaxDiff(run(x), ref), 1e-4);
}

UNetConfig TinyUNetConfig() {
  auto cfg = ParseUNetConfig(R"({
      "block_out_channels": [16, 32], "layers_per_block": 1, "sample_size": 8,
      "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
      "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
      "attention_head_dim": [2, 4], "transformer_layers_per_block": [1, 2],
      "cross_attention_dim": 24, "norm_num_groups": 8, "use_linear_projection": true,
      "addition_embed_type": "text_time", "addition_time_embed_dim": 4,
      "projection_class_embeddings_input_dim": 32})",
                             "test");
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  return *cfg;
}

TEST(NnBlocksTest, UNetPreparedAndWithContextCacheMatchesPlain) {
  c10::InferenceMode guard;
  UNet2DCondition unet(TinyUNetConfig());
  Randomize(*unet, 8);
  UNetInputs in;
  in.sample = torch::randn({2, 4, 6, 10});  // not a multiple of 2: upsample-to-skip-size path
  in.timestep = torch::tensor(500.0f);
  in.encoder_hidden_states = torch::randn({2, 7, 24});
  in.text_embeds = torch::randn({2, 8});
  in.time_ids = torch::tensor({48.0f, 80.0f, 0.0f, 0.0f, 48.0f, 80.0f}).repeat({2, 1});
  auto ref = unet->forward(in);
  unet->PrepareForInference(/*channels_last=*/true);
  auto prepared = unet->forward(in);
  EXPECT_TRUE(prepared.is_contiguous());  // NCHW out, whatever the internal format
  EXPECT_LE(MaxDiff(prepared, ref), 1e-4);
  const UNetContext context = unet->ProjectContext(in.encoder_hidden_states);
  EXPECT_EQ(context.per_transformer.size(), 4u);  // down 1, mid 1, up 2 (layers_per_block + 1)
  in.context = &context;
  EXPECT_TRUE(torch::equal(unet->forward(in), prepared));
  UNetContext wrong;
  in.context = &wrong;
  EXPECT_THROW(unet->forward(in), std::exception);
}

TEST(CachingCpuAllocatorTest, ReusesFreedBlocksOfTheSameSize) {
  auto& a = CachingCpuAllocator::Instance();
  a.ReleaseCached();
  const size_t big = CachingCpuAllocator::kMinCachedBytes * 3 + 5;
  void* first = nullptr;
  {
    auto p = a.allocate(big);
    first = p.get();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
    std::memset(first, 1, big);
  }
  EXPECT_GE(a.cached_bytes(), big);
  {
    auto p = a.allocate(big);  // same rounded size: the cached block comes back
    EXPECT_EQ(p.get(), first);
    EXPECT_EQ(a.cached_bytes(), 0u);
    auto q = a.allocate(big);  // the only cached block is in use: a new one
    EXPECT_NE(q.get(), first);
  }
  EXPECT_GE(a.cached_bytes(), 2 * big);
  a.ReleaseCached();
  EXPECT_EQ(a.cached_bytes(), 0u);
  {
    auto small = a.allocate(100);  // below kMinCachedBytes: not cached
    ASSERT_NE(small.get(), nullptr);
  }
  EXPECT_EQ(a.cached_bytes(), 0u);
  void* raw = a.raw_allocate(big);  // raw allocation pairs with raw_deleter()
  a.raw_deallocate(raw);
  EXPECT_GE(a.cached_bytes(), big);
  a.set_caching(false);
  { auto p = a.allocate(big * 2); }
  EXPECT_LT(a.cached_bytes(), 2 * big);  // freed straight away while caching is off
  a.set_caching(true);
  a.ReleaseCached();
  EXPECT_EQ(a.allocate(0).get(), nullptr);
}

TEST(CachingCpuAllocatorTest, InstalledAllocatorBacksTensors) {
  CachingCpuAllocator::Install();
  auto& a = CachingCpuAllocator::Instance();
  a.ReleaseCached();
  void* first = nullptr;
  {
    auto t = torch::ones({256, 1024});  // 1 MiB
    first = t.data_ptr();
  }
  auto t = torch::zeros({256, 1024});
  EXPECT_EQ(t.data_ptr(), first);
  EXPECT_EQ(t.sum().item<float>(), 0.0f);
}

}  // namespace
}  // namespace sdxl::sdxl
