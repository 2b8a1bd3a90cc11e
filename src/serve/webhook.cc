#include "serve/webhook.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace sdxl::serve {
namespace {

bool Wants(const Prediction& p, WebhookEvent e) {
  return !p.webhook.empty() && (p.webhook_events & static_cast<unsigned>(e)) != 0;
}

}  // namespace

WebhookSender::WebhookSender(WebhookOptions options)
    : options_(std::move(options)), client_([&] {
        http::HttpClientOptions o;
        o.user_agent = options_.user_agent;
        o.connect_timeout_ms = 5000;
        o.low_speed_time_s = 10;
        o.direct_receive = false;
        return o;
      }()) {
  const int n = std::max(1, options_.workers);
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  if (const size_t left = QueuedLocked(); left > 0)  // no worker left: no lock needed
    spdlog::warn("{} webhook event(s) not delivered at shutdown", left);
}

void WebhookSender::OnStart(const Prediction& snapshot) {
  if (Wants(snapshot, WebhookEvent::kStart)) Enqueue(snapshot, false);
}

void WebhookSender::OnLogs(const Prediction& snapshot) {
  if (!Wants(snapshot, WebhookEvent::kLogs)) return;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = last_logs_.try_emplace(snapshot.id, now);
    if (!fresh) {
      if (now - it->second < options_.throttle) return;  // the next event carries these logs
      it->second = now;
    }
  }
  Enqueue(snapshot, false);
}

void WebhookSender::OnCompleted(const Prediction& snapshot) {
  {
    std::lock_guard lock(mu_);
    last_logs_.erase(snapshot.id);
  }
  if (Wants(snapshot, WebhookEvent::kCompleted)) Enqueue(snapshot, true);
}

void WebhookSender::Enqueue(const Prediction& snapshot, bool terminal) {
  Event e{snapshot.webhook, snapshot.ToJson().dump(), terminal};
  {
    std::lock_guard lock(mu_);
    lanes_[snapshot.id].push_back(std::move(e));
  }
  cv_.notify_all();
}

size_t WebhookSender::QueuedLocked() const {
  size_t n = 0;
  for (const auto& [id, lane] : lanes_) n += lane.size();
  return n;
}

std::map<std::string, std::deque<WebhookSender::Event>>::iterator WebhookSender::NextLane() {
  for (auto it = lanes_.begin(); it != lanes_.end(); ++it) {
    if (!it->second.empty() && !active_.contains(it->first)) return it;
  }
  return lanes_.end();
}

bool WebhookSender::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return lanes_.empty() && active_.empty(); });
}

void WebhookSender::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto lane = lanes_.end();
    cv_.wait(lock, [&] { return stop_ || (lane = NextLane()) != lanes_.end(); });
    if (stop_) return;
    const std::string id = lane->first;
    Event e = std::move(lane->second.front());
    lane->second.pop_front();
    active_.insert(id);
    lock.unlock();
    Deliver(e);
    lock.lock();
    active_.erase(id);
    if (auto it = lanes_.find(id); it != lanes_.end() && it->second.empty()) lanes_.erase(it);
    cv_.notify_all();
  }
}

void WebhookSender::Deliver(const Event& event) {
  http::HttpRequest req;
  req.method = "POST";
  req.url = event.url;
  req.headers = {{"Content-Type", "application/json"}};
  if (!options_.auth_token.empty()) {
    req.headers.emplace_back("Authorization", "Bearer " + options_.auth_token);
  }
  req.body = event.body;
  const int attempts = event.terminal ? 1 + options_.terminal_retries : 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      const auto delay = std::min<std::chrono::milliseconds>(
          options_.retry_base * (1 << std::min(attempt - 1, 10)), std::chrono::seconds(10));
      std::unique_lock lock(mu_);  // a stop cuts the wait (and the remaining retries) short
      if (cv_.wait_for(lock, delay, [&] { return stop_; })) {
        spdlog::warn("webhook {}: stopped before it was delivered", event.url);
        return;
      }
    }
    auto resp = client_.Send(req);
    if (resp.ok()) {
      const int s = resp->status;
      if (s < 400) return;
      if (!(s == 429 || s == 500 || s == 502 || s == 503 || s == 504)) {
        spdlog::warn("webhook {} answered HTTP {}; not retried", event.url, s);
        return;
      }
      spdlog::debug("webhook {} answered HTTP {} (attempt {})", event.url, s, attempt + 1);
    } else {
      spdlog::debug("webhook {}: {} (attempt {})", event.url, resp.status().message(), attempt + 1);
    }
  }
  if (event.terminal) spdlog::warn("webhook {}: gave up after {} attempts", event.url, attempts);
}

}  // namespace sdxl::serve
