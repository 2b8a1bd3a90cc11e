#pragma once
// PredictionService: Cog's prediction lifecycle without HTTP: setup state and health, one
// prediction slot, validation (422), busy (409), not ready (503), idempotent creation by id,
// cancellation, sync and async completion, and graceful shutdown. The HTTP layer
// (http_server.h) only parses requests and writes these replies; tests drive it directly.
//
// The work itself is a RunFn given when setup succeeds (the SDXL runner in production, a fake in
// tests). It runs on the service's own worker thread, one prediction at a time (one GPU), and
// must poll RunContext::cancelled() between steps.
// Thread-safe: every public method may be called from any thread (the HTTP server's pool).
// Observers are called on the worker thread, outside the service's locks.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "sdxl/prediction_input.h"
#include "serve/prediction.h"

namespace sdxl::serve {

// What a RunFn may use while it works.
class RunContext {
 public:
  virtual ~RunContext() = default;
  virtual const std::string& id() const = 0;
  // Appends `line` (a newline is added) to the prediction's logs.
  virtual void Log(std::string_view line) = 0;
  // True once the prediction was canceled (stop at the next step; return Cancelled).
  virtual bool Cancelled() const = 0;
  // Adds a metric shown under `metrics` in the response.
  virtual void SetMetric(const std::string& name, nlohmann::json value) = 0;
};

// Runs one validated prediction; returns its `output` value. A Cancelled status ends the
// prediction as `canceled`; any other error as `failed` with the status message as `error`.
using RunFn = std::function<core::Result<nlohmann::json>(const sdxl::PredictionInput& input,
                                                         RunContext& ctx)>;

// Notified of lifecycle events (webhooks, metrics). `snapshot` is a copy taken at the event.
class PredictionObserver {
 public:
  virtual ~PredictionObserver() = default;
  virtual void OnStart(const Prediction& snapshot) {}
  virtual void OnLogs(const Prediction& snapshot) {}
  virtual void OnCompleted(const Prediction& snapshot) {}
};

enum class Health { kStarting, kReady, kBusy, kSetupFailed, kDefunct };
std::string_view HealthName(Health health);  // "STARTING", "READY", ...

struct ServiceReply {
  int http_status = 200;
  nlohmann::json body;
};

class PredictionService {
 public:
  explicit PredictionService(std::string version);
  ~PredictionService();  // stops the worker (a running prediction is canceled and awaited)
  PredictionService(const PredictionService&) = delete;
  PredictionService& operator=(const PredictionService&) = delete;

  void AddObserver(PredictionObserver* observer);  // before the first prediction; not owned

  // --- setup ---
  void AppendSetupLog(std::string_view line);
  void SetupSucceeded(RunFn run, sdxl::InputDefaults defaults);
  void SetupFailed(const std::string& reason);
  Health health() const;
  nlohmann::json HealthJson() const;  // GET /health-check body
  sdxl::InputDefaults input_defaults() const;

  // --- predictions ---
  // POST /predictions (url_id empty) or PUT /predictions/{url_id}. `request` is the parsed body
  // (an object; `{}` for an empty body). Sync requests block until the prediction ends; while
  // they wait, `client_gone` (when given) is asked every 100 ms whether the HTTP client has
  // disconnected, and if so the prediction is canceled as coglet does (it ends `canceled`; its
  // webhook, if any, still gets the completed event).
  ServiceReply Create(const nlohmann::json& request, const std::string& url_id, bool respond_async,
                      const std::function<bool()>& client_gone = {});
  // POST /predictions/{id}/cancel: 200 {} when in flight, else 404 {}.
  ServiceReply Cancel(const std::string& id);
  // The state of a prediction in flight (queued or running): 200 with the full object, else 404
  // {} (finished predictions are forgotten, as Cog forgets them). Read-only; not a Cog route:
  // the playground page polls it for progress (GET /playground/predictions/{id}).
  ServiceReply InFlight(const std::string& id) const;

  // --- shutdown ---
  // Refuses new predictions from now on (503); the running one continues.
  void BeginShutdown();
  bool shutting_down() const { return shutting_down_.load(); }
  // Waits until no prediction runs (true) or the timeout passes (false).
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  struct Entry;
  class Context;
  void WorkerLoop();
  void Run(const std::shared_ptr<Entry>& entry);
  std::vector<PredictionObserver*> observers() const;

  const std::string version_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // worker wake-up and idle notification
  Health state_ = Health::kStarting;
  std::string setup_started_at_, setup_completed_at_, setup_logs_;
  RunFn run_;
  sdxl::InputDefaults defaults_;
  std::map<std::string, std::shared_ptr<Entry>> in_flight_;
  std::shared_ptr<Entry> queued_;   // handed to the worker
  std::shared_ptr<Entry> running_;  // the one slot
  std::vector<PredictionObserver*> observers_;
  std::atomic<bool> shutting_down_{false};
  bool stop_worker_ = false;
  std::thread worker_;
};

}  // namespace sdxl::serve
