#pragma once
// ProgressBar: a one-line transfer progress display on stderr (bytes, rate, ETA).
//
// Thread-safe: Add() is a lock-free atomic add callable from any worker thread. A private render
// thread redraws the line a few times a second while the bar is enabled; it is disabled (silent)
// when stderr is not a terminal or when the caller asks for quiet output. Finish() (or the
// destructor) stops the render thread and prints the final line.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace sdxl::core {

// "1.50 GiB", "12.0 MiB", "512 B".
std::string FormatBytes(double bytes);
// "1h02m", "3m05s", "42s".
std::string FormatDuration(double seconds);
// The text of one progress line (pure; used by the bar and tests).
std::string FormatProgressLine(const std::string& label, std::uint64_t done, std::uint64_t total,
                               double elapsed_s);

class ProgressBar {
 public:
  // enabled=false makes every call a cheap no-op besides counting.
  ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // True when stderr is a terminal (the default for `enabled` unless --quiet).
  static bool StderrIsTerminal();

  void Add(std::uint64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
  void SetTotal(std::uint64_t total) { total_.store(total, std::memory_order_relaxed); }
  std::uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  // Stops the display; prints the final line when enabled. Idempotent.
  void Finish();

 private:
  void Render(bool final_line);
  void Loop();

  std::string label_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> total_{0};
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace sdxl::core
