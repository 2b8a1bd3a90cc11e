#pragma once
// RetryPolicy: AWS "standard" retry mode. Decides which failures are transient, how long to wait
// (truncated binary exponential backoff with full jitter: rand(0,1) * min(base * 2^(n-1), cap)),
// and rations retries with a shared token bucket (retry quota) so a failing endpoint is not
// hammered. Thread-safe (the quota is atomic, the RNG is behind a mutex). The RNG is injectable
// for tests.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>

#include "core/status.h"

namespace sdxl::http {

struct RetryOptions {
  int max_attempts = 5;  // total attempts including the first (AWS default is 3)
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_backoff{20000};
  int quota_capacity = 500;  // token bucket; 0 disables the quota
  int retry_cost = 5;
  int timeout_retry_cost = 10;
};

// True for AWS throttling error codes (SlowDown, Throttling, RequestLimitExceeded, ...).
bool IsThrottlingCode(std::string_view service_code);
// True for HTTP statuses / service codes the standard mode retries (500/502/503/504, transient
// codes like RequestTimeout, throttling codes).
bool IsRetryableHttp(int http_status, std::string_view service_code);

class RetryPolicy {
 public:
  // rng returns uniform doubles in [0, 1); default: a seeded std::mt19937_64.
  explicit RetryPolicy(RetryOptions options = {}, std::function<double()> rng = {});

  const RetryOptions& options() const { return options_; }

  // attempt: 1-based number of the attempt that just failed with `status`. Returns the delay to
  // sleep before the next attempt, or nullopt when the caller must give up (not retryable,
  // attempts exhausted, or quota empty). Takes tokens from the quota when it says retry.
  std::optional<std::chrono::milliseconds> NextDelay(const core::Status& status, int attempt);
  // Call once a request succeeds; `retried` says whether it needed retries (refunds the quota).
  void OnSuccess(bool retried);

  // The jittered delay for attempt `attempt` (1-based) without touching the quota.
  std::chrono::milliseconds Backoff(int attempt);
  int quota() const { return quota_.load(); }

 private:
  RetryOptions options_;
  std::function<double()> rng_;
  std::mutex rng_mu_;
  std::atomic<int> quota_;
};

}  // namespace sdxl::http
