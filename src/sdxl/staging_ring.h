#pragma once
// Host bytes -> device memory through a fixed ring of pinned staging buffers.
//
// Streaming weights onto a GPU needs host memory the copy engine can read asynchronously (pinned).
// StagingRing holds a few such buffers, allocated once: a caller copies its bytes into a free
// buffer, queues the buffer's asynchronous copy into device memory and goes on while the copy
// runs; the buffer is handed out again only after that copy has finished (a fence per buffer).
// Host memory stays bounded by the ring (buffers x buffer_bytes), whatever the model's size, and
// the reading threads never wait for a copy unless every buffer is still in flight.
//
// Every piece of work is queued in one order on one queue (a CUDA side stream), so work queued
// after a tensor's last piece (e.g. its dtype conversion on the device) sees the whole tensor.
//
// DeviceCopyQueue is the device seam: MakeCudaCopyQueue for CUDA; tests drive the ring with an
// asynchronous fake on the CPU. Thread-safety: Upload may be called from several threads at once.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/status.h"
#include "sdxl/torch_pch.h"

namespace sdxl::sdxl {

// An ordered queue of device copies (a CUDA stream). All methods may be called from any thread.
class DeviceCopyQueue {
 public:
  // A point in the queue: Wait() blocks until all work queued before it has run.
  class Fence {
   public:
    virtual ~Fence() = default;
    virtual void Wait() = 0;
  };

  virtual ~DeviceCopyQueue() = default;
  // A host buffer (uint8) the queue can copy from asynchronously: pinned memory for CUDA.
  virtual torch::Tensor AllocateHost(std::size_t bytes) = 0;
  // Uninitialised device memory (uint8) for work queued on this queue.
  virtual torch::Tensor AllocateDevice(std::size_t bytes) = 0;
  // Queues dst.copy_(src) and returns at once: a host buffer's bytes into device memory, or a
  // device-side dtype conversion. Both tensors must stay valid until the copy has run (a fence).
  virtual void CopyAsync(const torch::Tensor& dst, const torch::Tensor& src) = 0;
  virtual std::unique_ptr<Fence> Record() = 0;
  // Blocks until everything queued so far has run.
  virtual void Synchronize() = 0;
};

// A queue on a CUDA side stream of `device` (pinned host buffers, events as fences). Needs a
// visible CUDA device; throws (c10::Error) otherwise.
std::unique_ptr<DeviceCopyQueue> MakeCudaCopyQueue(const torch::Device& device);

// How the module loader puts weights into CUDA memory: through a StagingRing (the default), or
// each tensor gathered whole in its own pinned buffer and copied synchronously (the former path,
// kept to compare). From $SDXL_CUDA_STAGING: "ring" (or unset) or "tensor"; anything else is an
// InvalidArgument error naming the two values.
enum class CudaStaging { kRing, kWholeTensor };
core::Result<CudaStaging> CudaStagingFromEnvironment();

class StagingRing {
 public:
  // Buffers are allocated on first use (queue.AllocateHost(buffer_bytes) each).
  StagingRing(DeviceCopyQueue& queue, int buffers, std::size_t buffer_bytes);
  // Waits for every queued copy (the buffers must outlive them).
  ~StagingRing();
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;

  // Copies `bytes` into `dst` (device memory, uint8, dst.numel() == bytes.size()) in pieces of at
  // most buffer_bytes. Returns once every piece is queued: `bytes` may be reused at once, `dst`
  // is complete only after Finish (or work queued later). `then` (optional) runs right after the
  // last piece is queued, in queue order (nothing else is queued in between): e.g. to queue the
  // conversion of a tensor whose last bytes these were. Exceptions of the queue propagate.
  void Upload(std::span<const std::byte> bytes, const torch::Tensor& dst,
              const std::function<void()>& then = nullptr);
  // Blocks until everything queued has run.
  void Finish();

  // Host memory the ring holds (buffers allocated so far x buffer_bytes).
  std::size_t host_bytes() const;

 private:
  struct Buffer {
    torch::Tensor host;
    std::unique_ptr<DeviceCopyQueue::Fence> last_copy;  // the copy that reads it, if any
  };
  int Acquire();
  void Release(int index);

  DeviceCopyQueue& queue_;
  const std::size_t buffer_bytes_;
  mutable std::mutex mu_;  // guards free_, allocated_
  std::condition_variable freed_;
  std::vector<Buffer> buffers_;  // a buffer is touched only by the caller that acquired it
  std::deque<int> free_;         // least recently released first: its copy is the oldest
  std::size_t allocated_ = 0;
  std::mutex order_mu_;  // keeps CopyAsync/Record/then of one piece together, in one order
};

}  // namespace sdxl::sdxl
