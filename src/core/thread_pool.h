#pragma once
// ThreadPool: a fixed set of owned worker threads running submitted tasks from a bounded queue.
//
// Thread-safe: Submit() and Wait() may be called from any thread. Submit() blocks while the queue
// is full (bounded memory). Tasks must not throw; they report failures through their own state.
// The destructor waits for queued tasks to finish and joins every thread.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/status.h"

namespace sdxl::core {

class ThreadPool {
 public:
  // `threads` >= 1 workers; at most `max_queued` tasks wait (0 = 4 * threads).
  explicit ThreadPool(std::size_t threads, std::size_t max_queued = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  // Blocks until every submitted task has finished.
  void Wait();
  std::size_t size() const { return workers_.size(); }

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable work_cv_;   // workers wait for tasks
  std::condition_variable space_cv_;  // submitters wait for queue space
  std::condition_variable idle_cv_;   // Wait() waits for in-flight == 0
  std::deque<std::function<void()>> queue_;
  std::size_t max_queued_;
  std::size_t in_flight_ = 0;  // queued + running
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// Runs fn(i) for i in [0, n) on `threads` threads (the caller's thread included), each worker
// taking the next index until none is left. Returns when all calls have finished.
void ParallelFor(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& fn);

// The general form: fn(worker, i), where worker in [0, min(threads, n)) names the thread that runs
// the call (for per-worker state such as buffers; worker 0 is the caller's thread), and `stop`,
// when given, is asked before each index is taken: once it returns true no new index starts (the
// calls already running finish). Returns when every started call has finished.
void ParallelForWorkers(std::size_t n, std::size_t threads,
                        const std::function<void(std::size_t worker, std::size_t i)>& fn,
                        const std::function<bool()>& stop = {});

// The same for work that can fail (fn returns Status): once a call fails, the indices not started
// yet are skipped (early stop); the calls already running finish. Returns the first error (in
// time), or OK when every call succeeded.
Status ParallelForUntilError(std::size_t n, std::size_t threads,
                             const std::function<Status(std::size_t)>& fn);
// ParallelFor(n, threads, fn) with an fn that returns Status means ParallelForUntilError.
template <typename Fn>
requires std::is_same_v<std::invoke_result_t<const Fn&, std::size_t>, Status>
[[nodiscard]] Status ParallelFor(std::size_t n, std::size_t threads, const Fn& fn) {
  return ParallelForUntilError(n, threads, std::function<Status(std::size_t)>(std::cref(fn)));
}

}  // namespace sdxl::core
