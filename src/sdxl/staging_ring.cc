// StagingRing and the CUDA copy queue (staging_ring.h).
#include "sdxl/staging_ring.h"

#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace sdxl::sdxl {
namespace {

class CudaFence final : public DeviceCopyQueue::Fence {
 public:
  explicit CudaFence(const c10::cuda::CUDAStream& stream) { event_.record(stream); }
  void Wait() override { event_.synchronize(); }

 private:
  at::cuda::CUDAEvent event_;  // no timing: the cheapest kind of event
};

// One side stream from LibTorch's pool: copies overlap the default stream's work and each other's
// host-side preparation; the caching allocator ties AllocateDevice's memory to this stream, so
// memory freed after its last queued use is reused only in stream order.
class CudaCopyQueue final : public DeviceCopyQueue {
 public:
  explicit CudaCopyQueue(const torch::Device& device)
      : device_(torch::kCUDA, device.has_index() ? device.index() : c10::cuda::current_device()),
        stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index())) {}

  torch::Tensor AllocateHost(std::size_t bytes) override {
    return torch::empty({static_cast<std::int64_t>(bytes)},
                        torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(true));
  }
  torch::Tensor AllocateDevice(std::size_t bytes) override {
    c10::cuda::CUDAStreamGuard guard(stream_);
    return torch::empty({static_cast<std::int64_t>(bytes)},
                        torch::TensorOptions().dtype(torch::kUInt8).device(device_));
  }
  void CopyAsync(const torch::Tensor& dst, const torch::Tensor& src) override {
    c10::cuda::CUDAStreamGuard guard(stream_);
    torch::NoGradGuard no_grad;
    dst.copy_(src, /*non_blocking=*/true);
  }
  std::unique_ptr<Fence> Record() override { return std::make_unique<CudaFence>(stream_); }
  void Synchronize() override { stream_.synchronize(); }

 private:
  torch::Device device_;
  c10::cuda::CUDAStream stream_;
};

}  // namespace

std::unique_ptr<DeviceCopyQueue> MakeCudaCopyQueue(const torch::Device& device) {
  return std::make_unique<CudaCopyQueue>(device);
}

core::Result<CudaStaging> CudaStagingFromEnvironment() {
  const char* v = std::getenv("SDXL_CUDA_STAGING");
  const std::string s = v ? v : "";
  if (s.empty() || s == "ring") return CudaStaging::kRing;
  if (s == "tensor") return CudaStaging::kWholeTensor;
  return core::InvalidArgument("SDXL_CUDA_STAGING is \"" + s +
                               "\"; use ring (pinned staging ring, the default) or tensor (one "
                               "pinned buffer per tensor), or leave it unset");
}

StagingRing::StagingRing(DeviceCopyQueue& queue, int buffers, std::size_t buffer_bytes)
    : queue_(queue), buffer_bytes_(buffer_bytes), buffers_(static_cast<std::size_t>(buffers)) {
  for (int i = 0; i < buffers; ++i) free_.push_back(i);
}

StagingRing::~StagingRing() {
  try {
    Finish();
  } catch (...) {  // a failed device: nothing left to wait for
  }
}

int StagingRing::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  freed_.wait(lock, [this] { return !free_.empty(); });
  const int i = free_.front();
  free_.pop_front();
  return i;
}

void StagingRing::Release(int index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(index);
  }
  freed_.notify_one();
}

void StagingRing::Upload(std::span<const std::byte> bytes, const torch::Tensor& dst,
                         const std::function<void()>& then) {
  if (bytes.empty()) {
    if (then) {
      std::lock_guard<std::mutex> order(order_mu_);
      then();
    }
    return;
  }
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min(buffer_bytes_, bytes.size() - at);
    const int index = Acquire();
    struct Releaser {
      StagingRing* ring;
      int index;
      ~Releaser() { ring->Release(index); }
    } releaser{this, index};
    Buffer& b = buffers_[static_cast<std::size_t>(index)];
    if (b.last_copy) {  // the copy that read this buffer last must be done before it is written
      b.last_copy->Wait();
      b.last_copy.reset();
    }
    if (!b.host.defined()) {
      b.host = queue_.AllocateHost(buffer_bytes_);
      std::lock_guard<std::mutex> lock(mu_);
      allocated_ += buffer_bytes_;
    }
    std::memcpy(b.host.data_ptr(), bytes.data() + at, n);
    const auto lo = static_cast<std::int64_t>(at), len = static_cast<std::int64_t>(n);
    std::lock_guard<std::mutex> order(order_mu_);
    queue_.CopyAsync(dst.narrow(0, lo, len), b.host.narrow(0, 0, len));
    b.last_copy = queue_.Record();
    at += n;
    if (at == bytes.size() && then) then();
  }
}

void StagingRing::Finish() {
  std::lock_guard<std::mutex> order(order_mu_);
  queue_.Synchronize();
}

std::size_t StagingRing::host_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return allocated_;
}

}  // namespace sdxl::sdxl
