#include "serve/prediction_service.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <utility>

#include "http/url.h"

namespace sdxl::serve {
namespace {

using nlohmann::json;

json ValidationError(json loc, const std::string& msg, const std::string& type) {
  return json{{"loc", std::move(loc)}, {"msg", msg}, {"type", type}};
}

ServiceReply Unprocessable(json items) { return {422, json{{"detail", std::move(items)}}}; }

// An RFC 3339 date-time ("2026-01-02T03:04:05.678Z", "...+02:00"), as JSON Schema's format.
bool IsRfc3339DateTime(const std::string& s) {
  auto digits = [&](size_t pos, size_t n, int lo, int hi) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
  };
  auto at = [&](size_t pos, const char* chars) {
    return pos < s.size() && std::strchr(chars, s[pos]) != nullptr;
  };
  if (!(digits(0, 4, 0, 9999) && at(4, "-") && digits(5, 2, 1, 12) && at(7, "-") &&
        digits(8, 2, 1, 31) && at(10, "Tt") && digits(11, 2, 0, 23) && at(13, ":") &&
        digits(14, 2, 0, 59) && at(16, ":") && digits(17, 2, 0, 60))) {
    return false;
  }
  size_t pos = 19;
  if (at(pos, ".")) {
    const size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return false;
  }
  if (at(pos, "Zz")) return pos + 1 == s.size();
  return at(pos, "+-") && digits(pos + 1, 2, 0, 23) && at(pos + 3, ":") &&
         digits(pos + 4, 2, 0, 59) && pos + 6 == s.size();
}

// An absolute http(s) URL with a host, written in URI characters (RFC 3986: printable ASCII
// without space and "<>\^`{|}), at most 65536 characters: what the webhook sender can POST to.
bool IsWebhookUrl(const std::string& url) {
  if (url.size() > 65536 || !http::ParseUrl(url).ok()) return false;
  for (const unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f || std::strchr("\"<>\\^`{|}", c) != nullptr) return false;
  }
  return true;
}

// Checks `context` (coglet: a map of strings; null refused); appends 422 items.
void CheckContext(const json& request, json& errors) {
  const auto it = request.find("context");
  if (it == request.end()) return;
  if (!it->is_object()) {
    errors.push_back(
        ValidationError({"body", "context"}, "Input should be a valid dictionary", "dict_type"));
    return;
  }
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string()) {
      errors.push_back(ValidationError({"body", "context", key}, "Input should be a valid string",
                                       "string_type"));
    }
  }
}

// Parses `webhook_events_filter`; appends 422 items for values Cog does not know (null, as
// coglet, is not a list).
unsigned ParseEventFilter(const json& request, json& errors) {
  const auto it = request.find("webhook_events_filter");
  if (it == request.end()) return kAllWebhookEvents;
  if (!it->is_array()) {
    errors.push_back(ValidationError({"body", "webhook_events_filter"},
                                     "Input should be a valid list", "list_type"));
    return kAllWebhookEvents;
  }
  unsigned mask = 0;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    const std::string s = v.is_string() ? v.get<std::string>() : std::string();
    if (s == "start") {
      mask |= static_cast<unsigned>(WebhookEvent::kStart);
    } else if (s == "output") {
      mask |= static_cast<unsigned>(WebhookEvent::kOutput);
    } else if (s == "logs") {
      mask |= static_cast<unsigned>(WebhookEvent::kLogs);
    } else if (s == "completed") {
      mask |= static_cast<unsigned>(WebhookEvent::kCompleted);
    } else {
      errors.push_back(ValidationError({"body", "webhook_events_filter", std::to_string(i)},
                                       "Input should be 'start', 'output', 'logs' or 'completed'",
                                       "enum"));
    }
  }
  return mask;
}

}  // namespace

std::string_view HealthName(Health health) {
  switch (health) {
    case Health::kStarting:
      return "STARTING";
    case Health::kReady:
      return "READY";
    case Health::kBusy:
      return "BUSY";
    case Health::kSetupFailed:
      return "SETUP_FAILED";
    case Health::kDefunct:
      return "DEFUNCT";
  }
  return "UNKNOWN";
}

struct PredictionService::Entry {
  mutable std::mutex mu;
  std::condition_variable done_cv;
  Prediction p;  // guarded by mu
  sdxl::PredictionInput input;
  std::atomic<bool> cancel{false};
  bool done = false;  // guarded by mu
  std::chrono::steady_clock::time_point started;

  Prediction Snapshot() const {
    std::lock_guard lock(mu);
    return p;
  }
};

class PredictionService::Context final : public RunContext {
 public:
  Context(PredictionService& service, Entry& entry) : service_(service), entry_(entry) {}
  const std::string& id() const override { return entry_.p.id; }  // immutable after creation
  void Log(std::string_view line) override {
    Prediction snap;
    {
      std::lock_guard lock(entry_.mu);
      entry_.p.logs.append(line);
      entry_.p.logs.push_back('\n');
      snap = entry_.p;
    }
    for (auto* o : service_.observers()) o->OnLogs(snap);
  }
  bool Cancelled() const override { return entry_.cancel.load(); }
  void SetMetric(const std::string& name, json value) override {
    std::lock_guard lock(entry_.mu);
    entry_.p.metrics[name] = std::move(value);
  }

 private:
  PredictionService& service_;
  Entry& entry_;
};

PredictionService::PredictionService(std::string version) : version_(std::move(version)) {
  setup_started_at_ = IsoTimestamp();
  worker_ = std::thread([this] { WorkerLoop(); });
}

PredictionService::~PredictionService() {
  {
    std::lock_guard lock(mu_);
    stop_worker_ = true;
    if (running_) running_->cancel = true;
  }
  cv_.notify_all();
  worker_.join();
}

void PredictionService::AddObserver(PredictionObserver* observer) {
  std::lock_guard lock(mu_);
  observers_.push_back(observer);
}

std::vector<PredictionObserver*> PredictionService::observers() const {
  std::lock_guard lock(mu_);
  return observers_;
}

void PredictionService::AppendSetupLog(std::string_view line) {
  std::lock_guard lock(mu_);
  setup_logs_.append(line);
  setup_logs_.push_back('\n');
}

void PredictionService::SetupSucceeded(RunFn run, sdxl::InputDefaults defaults) {
  std::lock_guard lock(mu_);
  run_ = std::move(run);
  defaults_ = defaults;
  state_ = Health::kReady;
  setup_completed_at_ = IsoTimestamp();
}

void PredictionService::SetupFailed(const std::string& reason) {
  std::lock_guard lock(mu_);
  setup_logs_.append(reason);
  setup_logs_.push_back('\n');
  state_ = Health::kSetupFailed;
  setup_completed_at_ = IsoTimestamp();
}

Health PredictionService::health() const {
  std::lock_guard lock(mu_);
  if (state_ == Health::kReady && (running_ || queued_)) return Health::kBusy;
  return state_;
}

sdxl::InputDefaults PredictionService::input_defaults() const {
  std::lock_guard lock(mu_);
  return defaults_;
}

json PredictionService::HealthJson() const {
  const Health h = health();
  std::lock_guard lock(mu_);
  json setup = {{"started_at", setup_started_at_}};
  if (!setup_completed_at_.empty()) setup["completed_at"] = setup_completed_at_;
  setup["status"] = state_ == Health::kStarting      ? "starting"
                    : state_ == Health::kSetupFailed ? "failed"
                                                     : "succeeded";
  setup["logs"] = setup_logs_;
  return json{{"status", HealthName(h)},
              {"setup", std::move(setup)},
              {"version", {{"sdxl_tigris", version_}}}};
}

ServiceReply PredictionService::Create(const json& request, const std::string& url_id,
                                       bool respond_async,
                                       const std::function<bool()>& client_gone) {
  // The id: the URL's (PUT) must match the body's when both are given.
  std::string id = url_id;
  if (const auto it = request.find("id"); it != request.end() && !it->is_null()) {
    if (!it->is_string()) {
      return Unprocessable(json::array(
          {ValidationError({"body", "id"}, "Input should be a valid string", "string_type")}));
    }
    const std::string body_id = it->get<std::string>();
    if (!url_id.empty() && body_id != url_id) {
      return Unprocessable(json::array({ValidationError(
          {"body", "id"}, "prediction ID must match the ID supplied in the URL", "value_error")}));
    }
    id = body_id;
  }

  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(mu_);
    if (!id.empty()) {
      // Idempotent creation: an id still in flight answers with its current state.
      if (auto it = in_flight_.find(id); it != in_flight_.end()) {
        auto existing = it->second;
        lock.unlock();
        return {202, existing->Snapshot().ToJson()};
      }
    }
    if (shutting_down_) {
      return {503, json{{"error", "The server is shutting down and takes no new predictions."},
                        {"status", "failed"}}};
    }
    if (state_ != Health::kReady) {
      std::string msg =
          state_ == Health::kSetupFailed
              ? "Setup failed, so no prediction can run; GET /health-check shows why."
              : "Setup has not finished yet. Wait until it has finished, or GET /health-check "
                "for status.";
      return {503, json{{"error", msg}, {"status", "failed"}}};
    }

    // Validation (422), field by field.
    json errors = json::array();
    json input = json::object();
    if (const auto it = request.find("input"); it != request.end() && !it->is_null()) {
      if (!it->is_object()) {
        // coglet's loc for a whole-input error; `cog predict` decodes loc as 3 strings.
        errors.push_back(ValidationError({"body", "input", "__root__"},
                                         "Input should be a valid dictionary", "dict_type"));
      } else {
        input = *it;
      }
    }
    sdxl::ParsedInput parsed = sdxl::ParsePredictionInput(input, defaults_);
    for (const auto& e : parsed.errors) {
      errors.push_back(ValidationError({"body", "input", e.field}, e.msg, e.type));
    }
    const unsigned events = ParseEventFilter(request, errors);
    CheckContext(request, errors);
    std::string webhook;
    if (const auto it = request.find("webhook"); it != request.end() && !it->is_null()) {
      webhook = it->is_string() ? it->get<std::string>() : std::string();
      if (!IsWebhookUrl(webhook)) {
        errors.push_back(ValidationError(
            {"body", "webhook"}, "Input should be a valid URL (http or https)", "url_parsing"));
      }
    }
    if (!errors.empty()) return Unprocessable(std::move(errors));

    // One slot: a second prediction while one runs is refused, as Cog does.
    if (running_ || queued_) {
      return {409, json{{"detail", "Already running a prediction"},
                        {"error", "At capacity - all prediction slots busy"},
                        {"status", "failed"}}};
    }

    entry = std::make_shared<Entry>();
    entry->p.id = id.empty() ? NewPredictionId() : id;
    // Echo the validated input (unknown keys dropped, defaults filled in), as Cog's py server does.
    entry->p.input = sdxl::InputToJson(parsed.input);
    // Echoed when it is a date-time (py server); anything else is ignored, as coglet ignores it.
    if (const auto it = request.find("created_at");
        it != request.end() && it->is_string() && IsRfc3339DateTime(it->get<std::string>())) {
      entry->p.created_at = it->get<std::string>();
    }
    entry->p.webhook = std::move(webhook);
    entry->p.webhook_events = events;
    entry->input = std::move(parsed.input);
    in_flight_[entry->p.id] = entry;
    queued_ = entry;
  }
  cv_.notify_all();

  if (respond_async) return {202, entry->Snapshot().ToJson()};
  std::unique_lock lock(entry->mu);
  bool gone = false;
  while (
      !entry->done_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return entry->done; })) {
    if (!gone && client_gone && client_gone()) {
      gone = true;  // nobody will read the answer: stop at the next step, free the slot
      entry->cancel = true;
      spdlog::info("prediction {}: the client disconnected; canceling it", entry->p.id);
    }
  }
  return {200, entry->p.ToJson()};
}

ServiceReply PredictionService::Cancel(const std::string& id) {
  std::lock_guard lock(mu_);
  const auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return {404, json::object()};
  it->second->cancel = true;
  return {200, json::object()};
}

ServiceReply PredictionService::InFlight(const std::string& id) const {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    const auto it = in_flight_.find(id);
    if (it == in_flight_.end()) return {404, json::object()};
    entry = it->second;
  }
  return {200, entry->Snapshot().ToJson()};
}

void PredictionService::BeginShutdown() { shutting_down_ = true; }

bool PredictionService::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return !running_ && !queued_; });
}

void PredictionService::WorkerLoop() {
  for (;;) {
    std::shared_ptr<Entry> entry;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_worker_ || queued_; });
      if (stop_worker_ && !queued_) return;
      entry = std::move(queued_);
      queued_.reset();
      running_ = entry;
      if (stop_worker_) entry->cancel = true;
    }
    Run(entry);  // clears running_ and the in-flight entry when it ends
  }
}

void PredictionService::Run(const std::shared_ptr<Entry>& entry) {
  Prediction snap;
  RunFn run;
  {
    std::lock_guard lock(mu_);
    run = run_;
  }
  {
    std::lock_guard lock(entry->mu);
    entry->p.status = PredictionStatus::kProcessing;
    entry->p.started_at = IsoTimestamp();
    entry->started = std::chrono::steady_clock::now();
    snap = entry->p;
  }
  for (auto* o : observers()) o->OnStart(snap);

  Context ctx(*this, *entry);
  core::Result<json> result = core::Cancelled("canceled before it started");
  if (!entry->cancel) {
    try {
      result = run(entry->input, ctx);
    } catch (const std::exception& e) {  // a bug in the runner: fail the prediction, keep serving
      result = core::Internal(std::string("prediction failed unexpectedly: ") + e.what());
    }
  }
  if (!result.ok() && result.status().code() != core::Code::kCancelled && entry->cancel) {
    result = core::Cancelled("canceled");
  }
  {
    std::lock_guard lock(entry->mu);
    Prediction& p = entry->p;
    if (result.ok()) {
      p.status = PredictionStatus::kSucceeded;
      p.output = std::move(*result);
    } else if (result.status().code() == core::Code::kCancelled) {
      p.status = PredictionStatus::kCanceled;
    } else {
      p.status = PredictionStatus::kFailed;
      p.error = result.status().message();
    }
    p.completed_at = IsoTimestamp();
    p.predict_time =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - entry->started).count();
    snap = p;
  }
  spdlog::info("prediction {} {} in {:.3f} s{}", snap.id, StatusName(snap.status),
               snap.predict_time, snap.error ? ": " + *snap.error : std::string());
  // Observers first (metrics, the completed webhook is queued), then the waiting client.
  for (auto* o : observers()) o->OnCompleted(snap);
  {
    std::lock_guard lock(mu_);  // finished predictions are forgotten (a PUT of the id reruns it)
    running_.reset();
    in_flight_.erase(snap.id);
  }
  cv_.notify_all();
  {
    std::lock_guard lock(entry->mu);
    entry->done = true;
  }
  entry->done_cv.notify_all();
}

}  // namespace sdxl::serve
