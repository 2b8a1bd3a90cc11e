#pragma once
// WebhookSender: delivers Cog webhooks for predictions that name a `webhook` URL.
//
// Events, as Cog sends them (cog_api.md section 9): `start` once when processing starts, `logs`
// as log lines arrive (throttled: at most one per `throttle` interval per prediction;
// COG_THROTTLE_RESPONSE_INTERVAL, default 0.5 s), `completed` once on a terminal status, each only
// when the prediction's webhook_events_filter lets it through. Payload: the prediction's full
// response object. Headers: Content-Type: application/json, User-Agent: sdxl-tigris/<version>,
// Authorization: Bearer <WEBHOOK_AUTH_TOKEN> when set. Terminal events are retried on
// 429/500/502/503/504 and connection errors (12 retries, backoff 0.1 s * 2^n capped at 10 s);
// non-terminal ones are sent once, errors ignored. A retry waits without blocking shutdown.
//
// Delivery runs on `workers` threads in per-prediction lanes: the events of one prediction go out
// one at a time in the order they happened, while other predictions' lanes proceed in parallel, so
// a webhook host that is down or slow (a terminal event can spend ~minutes in retries) delays only
// the predictions that name it, up to `workers` such hosts at once. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/http_client.h"
#include "serve/prediction_service.h"

namespace sdxl::serve {

struct WebhookOptions {
  std::chrono::milliseconds throttle{500};
  std::string auth_token;  // WEBHOOK_AUTH_TOKEN
  std::string user_agent = "sdxl-tigris/0.1";
  int terminal_retries = 12;
  std::chrono::milliseconds retry_base{100};
  int workers = 4;  // lanes delivered at once
};

class WebhookSender final : public PredictionObserver {
 public:
  explicit WebhookSender(WebhookOptions options);
  // Stops at once: the attempt in flight ends, pending retries and queued events are dropped
  // (logged). Call Flush first to give them time.
  ~WebhookSender() override;

  void OnStart(const Prediction& snapshot) override;
  void OnLogs(const Prediction& snapshot) override;
  void OnCompleted(const Prediction& snapshot) override;

  // Blocks until every queued event was delivered or given up, or `timeout` passed; returns
  // whether everything drained (tests, shutdown).
  bool Flush(std::chrono::milliseconds timeout = std::chrono::hours(1));

 private:
  struct Event {
    std::string url;
    std::string body;
    bool terminal = false;
  };
  void Enqueue(const Prediction& snapshot, bool terminal);
  void Loop();
  void Deliver(const Event& event);
  // A lane with queued events that no worker is delivering, or lanes_.end(). Caller holds mu_.
  std::map<std::string, std::deque<Event>>::iterator NextLane();
  size_t QueuedLocked() const;

  WebhookOptions options_;
  http::HttpClient client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<Event>> lanes_;  // per prediction id; erased when empty
  std::set<std::string> active_;                    // lanes a worker is delivering from
  bool stop_ = false;
  std::map<std::string, std::chrono::steady_clock::time_point> last_logs_;  // per prediction id
  std::vector<std::thread> threads_;
};

}  // namespace sdxl::serve
