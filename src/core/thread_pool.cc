#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <mutex>

namespace sdxl::core {

ThreadPool::ThreadPool(std::size_t threads, std::size_t max_queued)
    : max_queued_(max_queued == 0 ? 4 * std::max<std::size_t>(threads, 1) : max_queued) {
  threads = std::max<std::size_t>(threads, 1);
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Run(); });
}

ThreadPool::~ThreadPool() {
  Wait();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(mu_);
  space_cv_.wait(lock, [this] { return queue_.size() < max_queued_; });
  queue_.push_back(std::move(task));
  ++in_flight_;
  lock.unlock();
  work_cv_.notify_one();
}

void ThreadPool::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

void ThreadPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    space_cv_.notify_one();
    task();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--in_flight_ == 0) idle_cv_.notify_all();
    }
  }
}

void ParallelForWorkers(std::size_t n, std::size_t threads,
                        const std::function<void(std::size_t worker, std::size_t i)>& fn,
                        const std::function<bool()>& stop) {
  if (n == 0) return;
  threads = std::clamp<std::size_t>(threads, 1, n);
  std::atomic<std::size_t> next{0};
  auto worker = [&](std::size_t w) {
    while (!(stop && stop())) {
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      fn(w, i);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& t : pool) t.join();
}

void ParallelFor(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn) {
  ParallelForWorkers(n, threads, [&](std::size_t, std::size_t i) { fn(i); });
}

Status ParallelForUntilError(std::size_t n, std::size_t threads,
                             const std::function<Status(std::size_t)>& fn) {
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  ParallelFor(n, threads, [&](std::size_t i) {
    if (failed.load(std::memory_order_relaxed)) return;
    Status s = fn(i);
    if (s.ok()) return;
    std::lock_guard<std::mutex> lock(mu);
    if (first.ok()) first = std::move(s);
    failed.store(true, std::memory_order_relaxed);
  });
  return first;
}

}  // namespace sdxl::core
