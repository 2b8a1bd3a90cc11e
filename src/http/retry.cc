#include "http/retry.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>

namespace sdxl::http {

bool IsThrottlingCode(std::string_view code) {
  static constexpr std::array<std::string_view, 14> kThrottling = {
      "Throttling",
      "ThrottlingException",
      "ThrottledException",
      "RequestThrottledException",
      "TooManyRequestsException",
      "ProvisionedThroughputExceededException",
      "TransactionInProgressException",
      "RequestLimitExceeded",
      "BandwidthLimitExceeded",
      "LimitExceededException",
      "RequestThrottled",
      "SlowDown",
      "PriorRequestNotComplete",
      "EC2ThrottledException"};
  return std::find(kThrottling.begin(), kThrottling.end(), code) != kThrottling.end();
}

bool IsRetryableHttp(int http_status, std::string_view code) {
  if (http_status == 500 || http_status == 502 || http_status == 503 || http_status == 504) {
    return true;
  }
  if (code == "RequestTimeout" || code == "RequestTimeoutException" ||
      code == "PriorRequestNotComplete" || code == "InternalError") {
    return true;
  }
  return IsThrottlingCode(code);
}

RetryPolicy::RetryPolicy(RetryOptions options, std::function<double()> rng)
    : options_(options), rng_(std::move(rng)), quota_(options.quota_capacity) {
  if (!rng_) {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    rng_ = [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
  }
}

std::chrono::milliseconds RetryPolicy::Backoff(int attempt) {
  double r;
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    r = rng_();
  }
  r = std::clamp(r, 0.0, 1.0);
  const double exp = std::ldexp(1.0, std::clamp(attempt - 1, 0, 30));
  const double cap = static_cast<double>(options_.max_backoff.count());
  const double ceiling = std::min(static_cast<double>(options_.base_delay.count()) * exp, cap);
  return std::chrono::milliseconds(static_cast<long long>(r * ceiling));
}

std::optional<std::chrono::milliseconds> RetryPolicy::NextDelay(const core::Status& status,
                                                                int attempt) {
  if (status.ok() || !status.retryable()) return std::nullopt;
  if (attempt >= options_.max_attempts) return std::nullopt;
  if (options_.quota_capacity > 0) {
    const int cost = status.code() == core::Code::kDeadlineExceeded ? options_.timeout_retry_cost
                                                                    : options_.retry_cost;
    int current = quota_.load();
    do {
      if (current < cost) return std::nullopt;
    } while (!quota_.compare_exchange_weak(current, current - cost));
  }
  return Backoff(attempt);
}

void RetryPolicy::OnSuccess(bool retried) {
  if (options_.quota_capacity <= 0) return;
  const int refund = retried ? options_.retry_cost : 1;
  int current = quota_.load();
  int next;
  do {
    next = std::min(options_.quota_capacity, current + refund);
  } while (!quota_.compare_exchange_weak(current, next));
}

}  // namespace sdxl::http
