#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sdxl::core {

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  } else {
    std::snprintf(buf, sizeof(buf), bytes < 10 ? "%.2f %s" : (bytes < 100 ? "%.1f %s" : "%.0f %s"),
                  bytes, kUnits[u]);
  }
  return buf;
}

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lds", s);
  }
  return buf;
}

std::string FormatProgressLine(const std::string& label, std::uint64_t done, std::uint64_t total,
                               double elapsed_s) {
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0;
  std::string line = label.empty() ? "" : label + " ";
  if (total > 0) {
    const double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total);
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%5.1f%%", pct > 100 ? 100.0 : pct);
    line += std::string(buf) + " " + FormatBytes(static_cast<double>(done)) + " / " +
            FormatBytes(static_cast<double>(total));
  } else {
    line += FormatBytes(static_cast<double>(done));
  }
  line += "  " + FormatBytes(rate) + "/s";
  if (total > 0 && done < total && rate > 0) {
    line += "  ETA " + FormatDuration(static_cast<double>(total - done) / rate);
  } else if (total > 0 && done >= total) {
    line += "  in " + FormatDuration(elapsed_s);
  }
  return line;
}

bool ProgressBar::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

namespace {
ProgressOptions EnabledOnly(bool enabled) {
  ProgressOptions o;
  o.enabled = enabled;
  return o;
}
}  // namespace

ProgressBar::ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled)
    : ProgressBar(std::move(label), total_bytes, EnabledOnly(enabled)) {}

ProgressBar::ProgressBar(std::string label, std::uint64_t total_bytes, ProgressOptions options)
    : label_(std::move(label)),
      total_(total_bytes),
      options_(options),
      terminal_(options.terminal.value_or(options.out == nullptr && StderrIsTerminal())),
      out_(options.out != nullptr ? options.out : stderr),
      start_(std::chrono::steady_clock::now()) {
  if (options_.enabled) thread_ = std::thread([this] { Loop(); });
}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Loop() {
  const auto period = terminal_ ? options_.redraw_interval : options_.log_interval;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stop_; })) Render(false);
}

void ProgressBar::Render(bool final_line) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = FormatProgressLine(label_, done(), total_.load(), elapsed);
  if (terminal_) {
    std::fprintf(out_, "\r\033[2K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void ProgressBar::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (options_.enabled) Render(true);
}

}  // namespace sdxl::core
