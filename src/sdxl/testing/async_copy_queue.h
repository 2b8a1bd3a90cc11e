#pragma once
// Tests only: a DeviceCopyQueue (staging_ring.h) on the CPU that behaves like a CUDA stream.
//
// CopyAsync returns at once; the copies run later, in the order they were queued, on a thread of
// the queue's own, each after a random delay of up to `max_delay_us`. So a caller that writes a
// staging buffer again before the fence of the copy reading it has passed, or that uses the
// destination before Synchronize, sees wrong bytes, as it would on a GPU. Counts what it was asked
// to allocate, so tests can check that host memory stays bounded.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "sdxl/staging_ring.h"

namespace sdxl::sdxl::testing {

class AsyncCpuCopyQueue final : public DeviceCopyQueue {
 public:
  explicit AsyncCpuCopyQueue(unsigned seed = 1, int max_delay_us = 100)
      : rng_(seed), max_delay_us_(max_delay_us), worker_([this] { Run(); }) {}

  ~AsyncCpuCopyQueue() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  torch::Tensor AllocateHost(std::size_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    host_bytes_ += bytes;
    return torch::empty({static_cast<std::int64_t>(bytes)}, torch::kUInt8);
  }
  torch::Tensor AllocateDevice(std::size_t bytes) override {
    return torch::empty({static_cast<std::int64_t>(bytes)}, torch::kUInt8);
  }
  void CopyAsync(const torch::Tensor& dst, const torch::Tensor& src) override {
    Push([dst, src] {
      torch::NoGradGuard no_grad;
      dst.copy_(src);
    });
  }
  std::unique_ptr<Fence> Record() override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::make_unique<SeqFence>(*this, queued_);
  }
  void Synchronize() override {
    std::unique_lock<std::mutex> lock(mu_);
    const std::uint64_t target = queued_;
    changed_.wait(lock, [&] { return done_ >= target; });
  }

  std::size_t host_bytes_allocated() const {
    std::lock_guard<std::mutex> lock(mu_);
    return host_bytes_;
  }
  std::uint64_t copies_run() const {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

 private:
  class SeqFence final : public Fence {
   public:
    SeqFence(AsyncCpuCopyQueue& q, std::uint64_t seq) : q_(q), seq_(seq) {}
    void Wait() override {
      std::unique_lock<std::mutex> lock(q_.mu_);
      q_.changed_.wait(lock, [&] { return q_.done_ >= seq_; });
    }

   private:
    AsyncCpuCopyQueue& q_;
    std::uint64_t seq_;
  };

  void Push(std::function<void()> work) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      work_.push_back(std::move(work));
      ++queued_;
    }
    changed_.notify_all();
  }

  void Run() {
    for (;;) {
      std::function<void()> work;
      int delay = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait(lock, [&] { return stop_ || !work_.empty(); });
        if (work_.empty()) return;
        work = std::move(work_.front());
        work_.pop_front();
        delay =
            max_delay_us_ > 0 ? static_cast<int>(rng_() % static_cast<unsigned>(max_delay_us_)) : 0;
      }
      if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
      work();
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++done_;
      }
      changed_.notify_all();
    }
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> work_;
  std::uint64_t queued_ = 0, done_ = 0;
  std::size_t host_bytes_ = 0;
  bool stop_ = false;
  std::mt19937 rng_;
  int max_delay_us_;
  std::thread worker_;  // last: started once the rest is ready
};

}  // namespace sdxl::sdxl::testing
