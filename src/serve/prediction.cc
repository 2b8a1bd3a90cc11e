#include "serve/prediction.h"

#include <openssl/rand.h>
#include <cstdio>
#include <ctime>

#include <random>

namespace sdxl::serve {

std::string_view StatusName(PredictionStatus status) {
  switch (status) {
    case PredictionStatus::kStarting:
      return "starting";
    case PredictionStatus::kProcessing:
      return "processing";
    case PredictionStatus::kSucceeded:
      return "succeeded";
    case PredictionStatus::kFailed:
      return "failed";
    case PredictionStatus::kCanceled:
      return "canceled";
  }
  return "failed";
}

bool IsTerminal(PredictionStatus status) {
  return status == PredictionStatus::kSucceeded || status == PredictionStatus::kFailed ||
         status == PredictionStatus::kCanceled;
}

nlohmann::json Prediction::ToJson() const {
  using nlohmann::json;
  json j = json::object();
  j["input"] = input;
  j["output"] = output;
  j["id"] = id;
  j["version"] = nullptr;
  j["created_at"] = created_at ? json(*created_at) : json(nullptr);
  j["started_at"] = started_at.empty() ? json(nullptr) : json(started_at);
  j["completed_at"] = completed_at.empty() ? json(nullptr) : json(completed_at);
  j["logs"] = logs;
  j["error"] = error ? json(*error) : json(nullptr);
  j["status"] = StatusName(status);
  if (IsTerminal(status)) {
    json m = metrics.is_object() ? metrics : json::object();
    m["predict_time"] = predict_time;
    j["metrics"] = std::move(m);
  } else {
    j["metrics"] = metrics.empty() ? json(nullptr) : metrics;
  }
  return j;
}

std::string IsoTimestamp(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

std::string NewPredictionId() {
  unsigned char random[12];
  if (RAND_bytes(random, sizeof random) != 1) {
    std::random_device rd;
    for (auto& b : random) b = static_cast<unsigned char>(rd());
  }
  std::string id = "pred_";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : random) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 15]);
  }
  return id;
}

}  // namespace sdxl::serve
