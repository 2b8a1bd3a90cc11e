#include "core/progress.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sdxl::core
