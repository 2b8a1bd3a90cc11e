#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

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

TEST(ParallelFor, StatusVersionRunsEverythingWhenAllSucceed) {
  std::vector<std::atomic<int>> hits(500);
  const Status st = ParallelFor(hits.size(), 4, [&](std::size_t i) -> Status {
    hits[i]++;
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok());
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_TRUE(ParallelFor(0, 4, [](std::size_t) -> Status { return Internal("never"); }).ok());
}

TEST(ParallelFor, StatusVersionStopsEarlyAndReturnsTheFirstError) {
  std::atomic<int> calls{0};
  const Status st = ParallelFor(10000, 4, [&](std::size_t i) -> Status {
    ++calls;
    if (i == 3) return NotFound("item 3 is missing");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    return Status::Ok();
  });
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.message(), "item 3 is missing");
  EXPECT_LT(calls.load(), 200) << "indices after the failure should be skipped";

  // One thread: strictly in order, nothing after the failing index runs.
  std::vector<std::size_t> seen;
  const Status one = ParallelForUntilError(10, 1, [&](std::size_t i) -> Status {
    seen.push_back(i);
    return i == 5 ? Internal("five") : Status::Ok();
  });
  EXPECT_EQ(one.message(), "five");
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
}

TEST(ParallelForWorkers, WorkerIndicesNameDistinctThreadsAndEveryIndexRunsOnce) {
  constexpr std::size_t kN = 64;
  std::vector<std::atomic<int>> hits(kN);
  std::mutex mu;
  std::map<std::size_t, std::thread::id> thread_of;  // worker -> the one thread that used it
  bool consistent = true;
  ParallelForWorkers(kN, 3, [&](std::size_t worker, std::size_t i) {
    ++hits[i];
    std::lock_guard<std::mutex> lock(mu);
    auto [it, fresh] = thread_of.try_emplace(worker, std::this_thread::get_id());
    if (!fresh && it->second != std::this_thread::get_id()) consistent = false;
    EXPECT_LT(worker, 3u);
  });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_TRUE(consistent) << "a worker index was used by two threads";
  // Never more workers than indices.
  ParallelForWorkers(2, 8, [&](std::size_t worker, std::size_t) { EXPECT_LT(worker, 2u); });
}

TEST(ParallelForWorkers, StopPreventsNewIndices) {
  std::atomic<bool> stop{false};
  std::vector<std::size_t> seen;
  ParallelForWorkers(
      10, 1,
      [&](std::size_t, std::size_t i) {
        seen.push_back(i);
        if (i == 3) stop = true;
      },
      [&] { return stop.load(); });
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace sdxl::core
