#pragma once
// ProgressLine: a byte counter shown on stderr while long work runs ("download 1.2/6.9 GiB
// 310 MiB/s"). On a terminal it redraws one line every 200 ms; otherwise it prints a line every
// 10 s (logs stay readable). Add() is thread-safe and lock-free; the display thread is owned and
// joined by Finish() / the destructor, which print the final totals once.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace sdxl::prepare {

class ProgressLine {
 public:
  // `enabled` false: counts silently (quiet mode).
  ProgressLine(std::string label, uint64_t total_bytes, bool enabled);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Add(uint64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
  void AddTotal(uint64_t bytes) { total_.fetch_add(bytes, std::memory_order_relaxed); }
  uint64_t done() const { return done_.load(); }
  // Stops the display and prints the final line (idempotent).
  void Finish();

 private:
  void Run();
  void Print(bool final_line);

  std::string label_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_;
  bool enabled_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

// "1.5 GiB", "12.0 MiB", "512 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace sdxl::prepare
