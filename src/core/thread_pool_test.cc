#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

namespace sdxl::core {
namespace {

TEST(ThreadPool, RunsEveryTaskOnSeveralThreads) {
  std::atomic<int> sum{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  {
    ThreadPool pool(4, 2);  // tiny queue: Submit must block, not drop
    for (int i = 1; i <= 200; ++i) {
      pool.Submit([&, i] {
        sum += i;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
      });
    }
    pool.Wait();
    EXPECT_EQ(sum.load(), 200 * 201 / 2);
  }
  EXPECT_GT(ids.size(), 1u);
}

TEST(ThreadPool, WaitCanBeCalledRepeatedly) {
  ThreadPool pool(2);
  std::atomic<int> n{0};
  pool.Submit([&] { ++n; });
  pool.Wait();
  EXPECT_EQ(n.load(), 1);
  pool.Submit([&] { ++n; });
  pool.Wait();
  EXPECT_EQ(n.load(), 2);
}

TEST(ParallelFor, VisitsEachIndexOnce) {
  std::vector<std::atomic<int>> hits(1000);
  ParallelFor(hits.size(), 8, [&](std::size_t i) { hits[i]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  ParallelFor(0, 8, [&](std::size_t) { FAIL(); });
}

}  // namespace
}  // namespace sdxl::core
