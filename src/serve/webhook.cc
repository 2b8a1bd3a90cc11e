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
  thread_ = std::thread([this] { Loop(); });
}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
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
    queue_.push_back(std::move(e));
  }
  cv_.notify_all();
}

bool WebhookSender::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

void WebhookSender::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) {
      if (!queue_.empty())
        spdlog::warn("{} webhook event(s) not delivered at shutdown", queue_.size());
      return;
    }
    Event e = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Deliver(e);
    lock.lock();
    busy_ = false;
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
