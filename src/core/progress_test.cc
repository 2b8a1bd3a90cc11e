#include "core/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sdxl::core {
namespace {

TEST(Progress, FormatBytes) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(12.0 * 1024 * 1024), "12.0 MiB");
  EXPECT_EQ(FormatBytes(6.5 * 1024 * 1024 * 1024), "6.50 GiB");
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(FormatDuration(42), "42s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
}

TEST(Progress, LineHasPercentRateAndEta) {
  const std::string line = FormatProgressLine("unet", 512ull << 20, 1024ull << 20, 2.0);
  EXPECT_EQ(line, "unet  50.0% 512 MiB / 1.00 GiB  256 MiB/s  ETA 2s");
  EXPECT_EQ(FormatProgressLine("", 10, 10, 1.0), "100.0% 10 B / 10 B  10 B/s  in 1s");
}

TEST(Progress, DisabledBarCountsFromManyThreads) {
  ProgressBar bar("x", 0, /*enabled=*/false);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) bar.Add(3);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bar.done(), 24000u);
  bar.Finish();
  bar.Finish();  // idempotent
}

// Runs `work` on a bar that writes to a temporary file; returns what it wrote once finished.
std::string Output(const std::string& label, std::uint64_t total, ProgressOptions options,
                   const std::function<void(ProgressBar&)>& work) {
  std::FILE* f = std::tmpfile();
  if (f == nullptr) return "<tmpfile failed>";
  options.out = f;
  {
    ProgressBar bar(label, total, options);
    work(bar);
  }  // the destructor finishes the bar
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

TEST(Progress, LogModePrintsPlainLinesThenAFinalOne) {
  ProgressOptions o;
  o.terminal = false;
  o.log_interval = std::chrono::milliseconds(20);
  const std::string text = Output("download", 100, o, [](ProgressBar& bar) {
    bar.Add(40);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    bar.Add(60);
  });
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_EQ(text.find('\033'), std::string::npos) << text;
  EXPECT_NE(text.find("download  40.0% 40 B / 100 B"), std::string::npos) << text;
  ASSERT_GE(text.size(), 2u);
  EXPECT_EQ(text.back(), '\n');
  const std::string last = text.substr(text.rfind('\n', text.size() - 2) + 1);
  EXPECT_EQ(last.rfind("download 100.0% 100 B / 100 B", 0), 0u) << last;
  EXPECT_NE(last.find(" in "), std::string::npos) << last;
}

TEST(Progress, TerminalModeRedrawsOneLine) {
  ProgressOptions o;
  o.terminal = true;
  const std::string text = Output("upload", 10, o, [](ProgressBar& bar) { bar.Add(10); });
  EXPECT_EQ(text.rfind("\r\033[2Kupload 100.0% 10 B / 10 B"), text.rfind('\r')) << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(Progress, DisabledBarPrintsNothing) {
  ProgressOptions o;
  o.enabled = false;
  EXPECT_EQ(Output("x", 10, o, [](ProgressBar& bar) { bar.Add(10); }), "");
}

}  // namespace
}  // namespace sdxl::core
