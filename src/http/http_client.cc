#include "http/http_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "http/curl_status.h"
#include "http/raw_connection.h"
#include "http/url.h"

namespace sdxl::http {
namespace {

// curl_global_init must run once before any other curl call, and is not thread-safe itself.
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
void EnsureCurlGlobal() { static CurlGlobal global; }

constexpr std::size_t kMaxErrorBody = 1 << 20;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

struct Transfer {
  HttpResponse* response = nullptr;
  const BodySink* sink = nullptr;
  const std::function<bool(const HttpResponse&)>* on_body_start = nullptr;
  bool body_started = false;
  const std::atomic<bool>* cancel = nullptr;
  CURL* easy = nullptr;
  std::string_view upload;
  std::size_t upload_pos = 0;
  bool sink_stopped = false;
  bool body_too_large = false;
};

std::size_t WriteCallback(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if (!t->body_started && code >= 200 && code < 300) {
    t->body_started = true;
    if (t->on_body_start != nullptr && *t->on_body_start) {
      t->response->status = static_cast<int>(code);
      if (!(*t->on_body_start)(*t->response)) {
        t->sink_stopped = true;
        return 0;  // aborts with CURLE_WRITE_ERROR
      }
    }
  }
  if (t->sink != nullptr && code >= 200 && code < 300) {
    if (!(*t->sink)(std::string_view(data, n))) {
      t->sink_stopped = true;
      return 0;  // aborts with CURLE_WRITE_ERROR
    }
    t->response->sink_bytes += n;
    return n;
  }
  if (t->response->body.size() + n > kMaxErrorBody && t->sink != nullptr) {
    t->body_too_large = true;
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

std::size_t HeaderCallback(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * nmemb;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after 100-continue or a redirect)
    return n;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  t->response->headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  return n;
}

std::size_t ReadCallback(char* buffer, std::size_t size, std::size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = std::min(size * nitems, t->upload.size() - t->upload_pos);
  std::memcpy(buffer, t->upload.data() + t->upload_pos, n);
  t->upload_pos += n;
  return n;
}

int SeekCallback(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::size_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->upload_pos = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int ProgressCallback(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return (t->cancel != nullptr && t->cancel->load(std::memory_order_relaxed)) ? 1 : 0;
}

}  // namespace

std::optional<std::string> FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return std::nullopt;
}

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  return FindHeader(headers, name);
}

// A share handle: DNS cache, TLS sessions and the connection pool shared by every easy handle.
struct HttpClient::Share {
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  Share() {
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Share::Lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Share::Unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Share() { curl_share_cleanup(share); }
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Share*>(user)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Share*>(user)->locks[data].unlock();
  }
};

// One easy handle; it keeps its own connection cache, so a worker thread that reuses it keeps its
// keep-alive connection.
struct HttpClient::Handle {
  CURL* easy = nullptr;
  std::unique_ptr<RawConnection> raw;  // direct-receive GETs; opened on first use
  Handle() : easy(curl_easy_init()) {}
  ~Handle() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {
  EnsureCurlGlobal();
  share_ = std::make_unique<Share>();
  // With a proxy configured libcurl talks to the proxy; the direct path speaks to the origin
  // only, so it stands aside.
  bool proxy = false;
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(name);
    proxy = proxy || (v != nullptr && v[0] != '\0');
  }
  direct_allowed_ = options_.direct_receive && !options_.verbose && !proxy;
}

HttpClient::~HttpClient() {
  idle_.clear();  // easy handles go before the share they use
  share_.reset();
}

std::unique_ptr<HttpClient::Handle> HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void HttpClient::Release(std::unique_ptr<Handle> handle) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(handle));
}

core::Result<HttpResponse> HttpClient::Send(const HttpRequest& request, const BodySink* sink,
                                            const std::atomic<bool>* cancel) {
  if (cancel != nullptr && cancel->load()) return core::Cancelled("cancelled");
  if (request.direct_body != nullptr && sink != nullptr && direct_allowed_ && !request.head &&
      request.method == "GET" && request.body.empty()) {
    if (auto url = ParseUrl(request.url); url.ok()) {
      auto handle = Acquire();
      if (!handle->raw) handle->raw = std::make_unique<RawConnection>(options_, share_->share);
      HttpResponse response;
      auto outcome = handle->raw->Get(request, *url, *request.direct_body, cancel, &response);
      Release(std::move(handle));
      if (!outcome.ok()) return outcome.status();
      if (*outcome == RawConnection::Outcome::kDone) return response;
      // kUnsupported (e.g. a chunked body): nothing was delivered; libcurl does it below.
    }
  }
  auto handle = Acquire();
  if (handle->easy == nullptr) return core::Internal("curl_easy_init failed (out of memory?)");
  CURL* easy = handle->easy;
  curl_easy_reset(easy);  // keeps live connections and caches

  HttpResponse response;
  Transfer t;
  t.response = &response;
  t.sink = sink;
  t.on_body_start = &request.on_body_start;
  t.cancel = cancel;
  t.easy = easy;
  t.upload = request.body;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(easy, CURLOPT_SHARE, share_->share);
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_limit_bytes);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, options_.low_speed_time_s);
  curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, options_.receive_buffer_bytes);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteCallback);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HeaderCallback);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &ProgressCallback);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, cancel != nullptr ? 0L : 1L);
  if (options_.verbose) curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
  if (!options_.ca_bundle.empty())
    curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_bundle.c_str());

  const std::string& m = request.method;
  if (request.head || m == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (m == "PUT" || m == "POST") {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, &ReadCallback);
    curl_easy_setopt(easy, CURLOPT_READDATA, &t);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &SeekCallback);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (m == "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (m != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m.c_str());
  }

  curl_slist* raw = nullptr;
  for (const auto& [k, v] : request.headers) {
    const std::string line = v.empty() ? k + ";" : k + ": " + v;
    raw = curl_slist_append(raw, line.c_str());
  }
  raw = curl_slist_append(raw, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, SlistDeleter> header_list(raw);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list.get());

  const CURLcode rc = curl_easy_perform(easy);
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  response.status = static_cast<int>(code);
  curl_easy_setopt(easy, CURLOPT_SHARE, nullptr);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  Release(std::move(handle));

  if (rc == CURLE_ABORTED_BY_CALLBACK) return core::Cancelled("cancelled");
  if (rc == CURLE_WRITE_ERROR && t.sink_stopped) {
    return core::Cancelled("transfer stopped by the receiver");
  }
  if (rc == CURLE_WRITE_ERROR && t.body_too_large) {
    return core::Unavailable("request to " + request.url + " returned HTTP " +
                             std::to_string(code) + " with an oversized error body");
  }
  if (rc != CURLE_OK) return CurlTransportError(rc, errbuf, request.url);
  return response;
}

}  // namespace sdxl::http
