#pragma once
// ProgressBar: a one-line progress display on stderr for long work (bytes, percent, rate, ETA),
// one bar per phase ("download", "convert", "upload", ...), each with its own label and total.
//
// On a terminal the line is redrawn in place a few times a second; when stderr is not a terminal
// (logs, CI, a pipe) a plain line is printed every 10 s instead, so logs stay readable. Both end
// with a final line. Thread-safe: Add() is a lock-free atomic add callable from any worker thread;
// a private render thread (owned, joined by Finish() or the destructor) does the drawing.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
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

struct ProgressOptions {
  bool enabled = true;  // false: count silently (quiet mode)
  // Redraw one line in place (true) or print plain lines (false); default: whether `out` is
  // stderr and stderr is a terminal.
  std::optional<bool> terminal;
  std::chrono::milliseconds redraw_interval{200};  // terminal
  std::chrono::milliseconds log_interval{10000};   // not a terminal
  std::FILE* out = nullptr;                        // default stderr; not owned
};

class ProgressBar {
 public:
  // enabled=false makes every call a cheap no-op besides counting.
  ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled);
  ProgressBar(std::string label, std::uint64_t total_bytes, ProgressOptions options);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // True when stderr is a terminal.
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
  ProgressOptions options_;
  bool terminal_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace sdxl::core
