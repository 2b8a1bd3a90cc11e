#include "hub/hub_http.h"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace sdxl::hub {
namespace {

constexpr size_t kMaxBufferedBody = 64u << 20;

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  HttpResponse* resp;
  const BodySink* sink;
  core::Status sink_status;
  bool too_big = false;
};

size_t OnHeader(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::string line(buf, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (e.g. after 100 Continue): start over.
    t->resp->headers.clear();
    auto sp = line.find(' ');
    if (sp != std::string::npos) t->resp->status = std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = line.substr(0, colon);
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t v = colon + 1;
    while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
    t->resp->headers[key] = line.substr(v);
  }
  return size * n;
}

size_t OnBody(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  long st = t->resp->status;
  if (st >= 200 && st < 300 && t->sink != nullptr) {
    core::Status s = (*t->sink)(*t->resp, buf, len);
    if (!s.ok()) {
      t->sink_status = std::move(s);
      return 0;  // abort
    }
    t->resp->sink_bytes += len;
    return len;
  }
  if (t->resp->body.size() + len > kMaxBufferedBody) {
    t->too_big = true;
    return 0;
  }
  t->resp->body.append(buf, len);
  return len;
}

}  // namespace

HubHttp::HubHttp(const HubConfig& config) : config_(config) {
  GlobalInitOnce();
  curl_ = curl_easy_init();
}

HubHttp::~HubHttp() {
  if (curl_ != nullptr) curl_easy_cleanup(curl_);
}

core::Result<HttpResponse> HubHttp::Get(const std::string& url,
                                        const std::vector<std::string>& headers,
                                        const BodySink* sink, bool head) {
  if (curl_ == nullptr) return core::Internal("curl_easy_init failed");
  HttpResponse resp;
  Transfer t{&resp, sink, core::Status::Ok()};
  curl_easy_reset(curl_);
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, config_.user_agent.c_str());
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(config_.connect_timeout.count() * 1000));
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.stall_timeout.count()));
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
  if (head) curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
  struct curl_slist* list = nullptr;
  list = curl_slist_append(list, "Accept-Encoding: identity");
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(curl_);
  curl_slist_free_all(list);
  if (!t.sink_status.ok()) return t.sink_status;
  if (t.too_big) return core::DataLoss("answer from " + UrlOrigin(url) + " is larger than 64 MiB");
  if (rc != CURLE_OK) {
    std::string what = std::string(curl_easy_strerror(rc)) + " (" + UrlOrigin(url) + ")";
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return core::DeadlineExceeded("transfer stalled or timed out: " + what);
    }
    return core::Unavailable("network error: " + what);
  }
  return resp;
}

std::string UrlOrigin(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  auto host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string origin = url.substr(0, host_end);
  std::transform(origin.begin(), origin.end(), origin.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Normalise default ports.
  if (origin.rfind("https://", 0) == 0 && origin.size() > 4 &&
      origin.compare(origin.size() - 4, 4, ":443") == 0) {
    origin.resize(origin.size() - 4);
  } else if (origin.rfind("http://", 0) == 0 && origin.size() > 3 &&
             origin.compare(origin.size() - 3, 3, ":80") == 0) {
    origin.resize(origin.size() - 3);
  }
  return origin;
}

std::string ResolveLocation(const std::string& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  std::string origin = base.substr(0, base.find_first_of("/?#", base.find("://") + 3));
  if (location.rfind("//", 0) == 0) return base.substr(0, base.find("://") + 1) + location;
  if (!location.empty() && location[0] == '/') return origin + location;
  // Relative to the base path's directory.
  std::string path = base.substr(0, base.find_first_of("?#", origin.size()));
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash < origin.size()) return origin + "/" + location;
  return path.substr(0, slash + 1) + location;
}

}  // namespace sdxl::hub
