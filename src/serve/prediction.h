#pragma once
// Prediction: one Cog prediction's record (id, input, status, logs, output, error, timestamps,
// metrics) and its JSON forms.
//
// The response object is the union of what Cog's two servers send (../shared/reference/cog_api.md
// section 8): the Python server's full object (input, output, id, version, created_at,
// started_at, completed_at, logs, error, status, metrics) with coglet's habit of putting
// `predict_time` in `metrics` on every terminal status. JSON is compact (no spaces), as both
// servers write it, because clients grep for `"status":"succeeded"`.
// Not thread-safe: PredictionService guards each record with its own mutex.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdxl::serve {

enum class PredictionStatus { kStarting, kProcessing, kSucceeded, kFailed, kCanceled };

// "starting" | "processing" | "succeeded" | "failed" | "canceled"
std::string_view StatusName(PredictionStatus status);
bool IsTerminal(PredictionStatus status);

// Webhook events a client may subscribe to (webhook_events_filter).
enum class WebhookEvent : unsigned { kStart = 1, kOutput = 2, kLogs = 4, kCompleted = 8 };
inline constexpr unsigned kAllWebhookEvents = 15;

struct Prediction {
  std::string id;
  nlohmann::json input = nlohmann::json::object();  // as validated (defaults filled in)
  PredictionStatus status = PredictionStatus::kStarting;
  std::string logs;
  nlohmann::json output;  // null until succeeded
  std::optional<std::string> error;
  std::optional<std::string> created_at;              // echoed from the request (py behaviour)
  std::string started_at;                             // ISO-8601 UTC, set when processing starts
  std::string completed_at;                           // set on a terminal status
  double predict_time = 0;                            // seconds from start to terminal
  nlohmann::json metrics = nlohmann::json::object();  // extra metrics (steps, timings)

  // Delivery settings from the request.
  std::string webhook;
  unsigned webhook_events = kAllWebhookEvents;

  // The full response object (sync responses, async 202, PUT of an in-flight id, webhooks).
  nlohmann::json ToJson() const;
};

// Now as "2026-12-04T17:00:00.123456+00:00" (Python's isoformat for UTC, as Cog writes it).
std::string IsoTimestamp(
    std::chrono::system_clock::time_point t = std::chrono::system_clock::now());

// Cog's default id when the client gives none: "pred_" + 24 random hex digits (unguessable,
// unlike coglet's nanosecond counter, because ids address cancel and PUT).
std::string NewPredictionId();

}  // namespace sdxl::serve
