#pragma once
// CachingCpuAllocator: a LibTorch CPU allocator that keeps freed large blocks for reuse.
//
// Why: a denoising step allocates and frees the same activation sizes every step. With the
// default allocator each large block comes from a fresh mmap, so every step pays page faults and
// the kernel's zeroing of every page (about a tenth of the CPU time of a 512x512 generation).
// Cached blocks make every step after the first reuse resident memory; no numerics change.
//
// Blocks of at least kMinCachedBytes are rounded up to 4 KiB and kept, when freed, in per-size
// free lists; smaller requests go straight to c10's allocator. Nothing is ever returned to the
// system until ReleaseCached(), which the pipeline calls at the end of each generation (and
// between the denoising loop and the VAE, whose sizes differ).
//
// Thread-safe (one mutex). Install() makes the process-wide singleton LibTorch's CPU allocator;
// it lives until the process exits (tensors may outlive any owner), so it is never destroyed.
// Tensors allocated before Install() keep their own deleter and are unaffected.
// Header-only: include it from exactly one translation unit (pipeline.cc).

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace sdxl::sdxl {

class CachingCpuAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kMinCachedBytes = size_t{64} << 10;  // 64 KiB
  static constexpr size_t kRounding = size_t{4} << 10;         // 4 KiB

  // The process-wide instance (created on first use, never destroyed).
  static CachingCpuAllocator& Instance() {
    static auto* instance = new CachingCpuAllocator();
    return *instance;
  }

  // Makes Instance() LibTorch's CPU allocator (idempotent).
  static void Install() {
    static std::once_flag once;
    std::call_once(once, [] { c10::SetCPUAllocator(&Instance(), /*priority=*/1); });
  }

  c10::DataPtr allocate(size_t n) override {
    if (n == 0) return {nullptr, nullptr, &Free, c10::Device(c10::DeviceType::CPU)};
    void* p = nullptr;
    if (n < kMinCachedBytes || !caching_.load(std::memory_order_relaxed)) {
      p = c10::alloc_cpu(n);
    } else {
      const size_t size = (n + kRounding - 1) / kRounding * kRounding;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = free_.find(size);
        if (it != free_.end() && !it->second.empty()) {
          p = it->second.back();
          it->second.pop_back();
          cached_bytes_ -= size;
        }
      }
      if (!p) p = c10::alloc_cpu(size);  // throws on out-of-memory
      std::lock_guard<std::mutex> lock(mu_);
      live_[p] = size;
    }
    return {p, p, &Free, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Free; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  // Returns every unused cached block to the system.
  void ReleaseCached() {
    std::unordered_map<size_t, std::vector<void*>> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      cached_bytes_ = 0;
    }
    for (auto& [size, list] : blocks) {
      for (void* p : list) c10::free_cpu(p);
    }
  }

  // Turns caching of new allocations on (default) or off; blocks already cached stay cached.
  void set_caching(bool on) { caching_.store(on, std::memory_order_relaxed); }

  // Bytes held in free lists (not in use by any tensor).
  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }

 private:
  CachingCpuAllocator() = default;

  static void Free(void* p) {
    if (p) Instance().Release(p);
  }

  void Release(void* p) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(p);
      if (it != live_.end()) {  // a cached-size block: keep it
        const size_t size = it->second;
        live_.erase(it);
        free_[size].push_back(p);
        cached_bytes_ += size;
        return;
      }
    }
    c10::free_cpu(p);  // a small block
  }

  mutable std::mutex mu_;
  std::unordered_map<void*, size_t> live_;               // in-use cached-size blocks -> size
  std::unordered_map<size_t, std::vector<void*>> free_;  // size -> unused blocks
  size_t cached_bytes_ = 0;
  std::atomic<bool> caching_{true};
};

}  // namespace sdxl::sdxl
