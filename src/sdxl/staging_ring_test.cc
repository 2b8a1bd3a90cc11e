#include "sdxl/staging_ring.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "sdxl/testing/async_copy_queue.h"

namespace sdxl::sdxl {
namespace {

using testing::AsyncCpuCopyQueue;

std::vector<std::byte> RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng());
  return v;
}

torch::Tensor AsTensor(const std::vector<std::byte>& v) {
  return torch::from_blob(const_cast<std::byte*>(v.data()), {static_cast<std::int64_t>(v.size())},
                          torch::kUInt8)
      .clone();
}

// Pieces of random size (some several buffers long) from three threads, each copied into its place
// while the (slow, asynchronous) queue still reads earlier buffers: the destination ends up equal
// to the source, and the ring never holds more than its buffers.
void UploadInPieces(StagingRing& ring, const std::vector<std::byte>& src, const torch::Tensor& dst,
                    std::size_t max_piece) {
  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  std::mt19937 rng(5);
  for (std::size_t at = 0; at < src.size();) {
    const std::size_t n = std::min(src.size() - at, 1 + rng() % max_piece);
    pieces.emplace_back(at, n);
    at += n;
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < pieces.size(); i = next++) {
      const auto [at, n] = pieces[i];
      // The caller's bytes are reused at once, as a network buffer would be.
      std::vector<std::byte> scratch(src.begin() + static_cast<std::ptrdiff_t>(at),
                                     src.begin() + static_cast<std::ptrdiff_t>(at + n));
      ring.Upload(scratch,
                  dst.narrow(0, static_cast<std::int64_t>(at), static_cast<std::int64_t>(n)));
      std::fill(scratch.begin(), scratch.end(), std::byte{0xEE});
    }
  };
  std::thread a(work), b(work);
  work();
  a.join();
  b.join();
}

TEST(StagingRingTest, PiecesOfAnySizeArriveWholeThroughABoundedRing) {
  AsyncCpuCopyQueue queue(/*seed=*/3, /*max_delay_us=*/50);
  const auto src = RandomBytes(200000, 1);
  const torch::Tensor dst = torch::zeros({static_cast<std::int64_t>(src.size())}, torch::kUInt8);
  {
    StagingRing ring(queue, /*buffers=*/3, /*buffer_bytes=*/1024);
    UploadInPieces(ring, src, dst, /*max_piece=*/3000);
    ring.Finish();
    EXPECT_LE(ring.host_bytes(), 3u * 1024);
    EXPECT_EQ(ring.host_bytes(), queue.host_bytes_allocated());
  }
  EXPECT_TRUE(torch::equal(dst, AsTensor(src)));
}

TEST(StagingRingTest, ThenRunsAfterTheLastPieceInQueueOrder) {
  // A bf16 tensor streamed as bytes into device staging, converted to fp32 by work queued in
  // `then`: the conversion sees every piece.
  AsyncCpuCopyQueue queue(/*seed=*/9, /*max_delay_us=*/50);
  const torch::Tensor want = torch::randn({64, 33}).to(torch::kBFloat16);
  const auto* p = static_cast<const std::byte*>(want.data_ptr());
  const std::vector<std::byte> bytes(p, p + want.numel() * 2);
  const torch::Tensor staging = queue.AllocateDevice(bytes.size());
  const torch::Tensor out = torch::zeros({64, 33}, torch::kFloat32);
  StagingRing ring(queue, 2, 256);
  std::atomic<int> thens{0};
  const std::size_t half = bytes.size() / 2 + 1;  // cuts an element in two
  ring.Upload(std::span(bytes).first(half), staging.narrow(0, 0, static_cast<std::int64_t>(half)));
  ring.Upload(std::span(bytes).subspan(half),
              staging.narrow(0, static_cast<std::int64_t>(half),
                             static_cast<std::int64_t>(bytes.size() - half)),
              [&] {
                ++thens;
                queue.CopyAsync(out, staging.view(torch::kBFloat16).view({64, 33}));
              });
  EXPECT_EQ(thens.load(), 1);
  ring.Finish();
  EXPECT_TRUE(torch::equal(out, want.to(torch::kFloat32)));
  // An empty upload still runs `then` (a tensor with no bytes).
  ring.Upload({}, staging.narrow(0, 0, 0), [&] { ++thens; });
  EXPECT_EQ(thens.load(), 2);
}

TEST(StagingRingTest, DestroyingTheRingWaitsForItsCopies) {
  AsyncCpuCopyQueue queue(/*seed=*/4, /*max_delay_us=*/200);
  const auto src = RandomBytes(50000, 2);
  const torch::Tensor dst = torch::zeros({50000}, torch::kUInt8);
  {
    StagingRing ring(queue, 4, 4096);
    ring.Upload(src, dst);
  }  // no Finish: the destructor waits
  EXPECT_EQ(queue.copies_run(), (50000 + 4095) / 4096);
  EXPECT_TRUE(torch::equal(dst, AsTensor(src)));
}

TEST(StagingRingTest, CudaStagingComesFromTheEnvironment) {
  const char* old = std::getenv("SDXL_CUDA_STAGING");
  const std::string saved = old ? old : "";
  unsetenv("SDXL_CUDA_STAGING");
  EXPECT_EQ(*CudaStagingFromEnvironment(), CudaStaging::kRing);
  setenv("SDXL_CUDA_STAGING", "tensor", 1);
  EXPECT_EQ(*CudaStagingFromEnvironment(), CudaStaging::kWholeTensor);
  setenv("SDXL_CUDA_STAGING", "ring", 1);
  EXPECT_EQ(*CudaStagingFromEnvironment(), CudaStaging::kRing);
  setenv("SDXL_CUDA_STAGING", "pinned", 1);
  auto bad = CudaStagingFromEnvironment();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("ring"), std::string::npos);
  EXPECT_NE(bad.status().message().find("tensor"), std::string::npos);
  if (old) {
    setenv("SDXL_CUDA_STAGING", saved.c_str(), 1);
  } else {
    unsetenv("SDXL_CUDA_STAGING");
  }
}

// The real thing, where a GPU is visible (tools/gpu-check.sh machines).
TEST(StagingRingTest, CudaQueueUploadsAndConverts) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto queue = MakeCudaCopyQueue(torch::Device(torch::kCUDA, 0));
  const torch::Tensor values = torch::randn({3 << 19}).to(torch::kBFloat16);  // no NaN
  const auto* p = static_cast<const std::byte*>(values.data_ptr());
  const std::vector<std::byte> src(p, p + values.numel() * 2);
  const torch::Tensor dst = queue->AllocateDevice(src.size());
  StagingRing ring(*queue, 3, 256 << 10);
  UploadInPieces(ring, src, dst, 700 << 10);
  ring.Finish();
  EXPECT_TRUE(torch::equal(dst.cpu(), AsTensor(src)));
  const torch::Tensor half =
      torch::empty({static_cast<std::int64_t>(src.size() / 2)},
                   torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  queue->CopyAsync(half, dst.view(torch::kBFloat16));
  queue->Synchronize();
  EXPECT_TRUE(torch::equal(half.cpu(), values.to(torch::kFloat32)));
}

}  // namespace
}  // namespace sdxl::sdxl
