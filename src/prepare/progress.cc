#include "prepare/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sdxl::prepare {

std::string HumanBytes(uint64_t bytes) {
  char buf[64];
  double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1ull << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

ProgressLine::ProgressLine(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)),
      total_(total_bytes),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_) thread_ = std::thread([this] { Run(); });
}

ProgressLine::~ProgressLine() { Finish(); }

void ProgressLine::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (enabled_) Print(true);
}

void ProgressLine::Run() {
  auto period = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
    Print(false);
  }
}

void ProgressLine::Print(bool final_line) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  uint64_t done = done_.load();
  uint64_t total = total_.load();
  double rate = secs > 0 ? static_cast<double>(done) / secs / (1 << 20) : 0;
  int pct = total > 0
                ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total))
                : 100;
  char tail[64] = "";
  if (final_line) std::snprintf(tail, sizeof tail, " in %.1f s", secs);
  std::fprintf(stderr, "%s%s: %s / %s (%d%%) %.1f MiB/s%s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), HumanBytes(done).c_str(), HumanBytes(total).c_str(), pct, rate, tail,
               (final_line || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace sdxl::prepare
