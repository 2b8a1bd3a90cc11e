#include "http/raw_connection.h"

#include <poll.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "http/curl_status.h"

namespace sdxl::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxErrorBody = 1 << 20;
constexpr std::size_t kHeaderReadBytes = 16 * 1024;
constexpr int kPollSliceMs = 100;  // how often a wait looks at the cancel flag

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool ContainsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (IEquals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The parsed head of one response.
struct Head {
  int status = 0;
  bool http10 = false;
  Headers headers;
  bool has_length = false;
  std::uint64_t length = 0;
  bool chunked = false;
  bool close = false;
};

core::Result<Head> ParseHead(std::string_view text, const std::string& url) {
  const auto bad = [&](const std::string& why) {
    return core::Unavailable("request to " + url + " failed: malformed response (" + why + ")");
  };
  Head head;
  std::size_t eol = text.find("\r\n");
  const std::string_view status_line = text.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return bad("status line \"" + std::string(status_line.substr(0, 40)) + "\"");
  }
  head.http10 = status_line[7] == '0';
  head.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  if (head.status < 100 || head.status > 999) return bad("status code");
  text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 2);
  while (!text.empty()) {
    eol = text.find("\r\n");
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 2);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bad("header line without ':'");
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (IEquals(name, "Content-Length")) {
      char* end = nullptr;
      const std::string v(value);
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0') return bad("Content-Length \"" + v + "\"");
      if (head.has_length && n != head.length) return bad("conflicting Content-Length");
      head.has_length = true;
      head.length = n;
    } else if (IEquals(name, "Transfer-Encoding")) {
      head.chunked = head.chunked || ContainsToken(value, "chunked");
    } else if (IEquals(name, "Connection")) {
      head.close = head.close || ContainsToken(value, "close");
    }
    head.headers.emplace_back(std::string(name), std::string(value));
  }
  if (head.http10) head.close = true;  // no keep-alive negotiation for 1.0 peers
  return head;
}

bool IsBodiless(int status) { return status == 204 || status == 304; }

}  // namespace

RawConnection::RawConnection(const HttpClientOptions& options, CURLSH* share)
    : options_(options), share_(share) {}

RawConnection::~RawConnection() { Close(); }

void RawConnection::Close() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  easy_ = nullptr;
  socket_ = CURL_SOCKET_BAD;
  origin_.clear();
}

core::Status RawConnection::Open(const Url& url, const std::string& request_url) {
  Close();
  easy_ = curl_easy_init();
  if (easy_ == nullptr) return core::Internal("curl_easy_init failed (out of memory?)");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy_, CURLOPT_URL, request_url.c_str());
  curl_easy_setopt(easy_, CURLOPT_CONNECT_ONLY, 1L);
  if (share_ != nullptr) curl_easy_setopt(easy_, CURLOPT_SHARE, share_);
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(easy_, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy_, CURLOPT_TCP_NODELAY, 1L);
  if (!options_.ca_bundle.empty()) {
    curl_easy_setopt(easy_, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  }
  const CURLcode rc = curl_easy_perform(easy_);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    core::Status st = CurlTransportError(rc, errbuf, request_url);
    Close();
    return st;
  }
  curl_socket_t sock = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(easy_, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
      sock == CURL_SOCKET_BAD) {
    Close();
    return core::Unavailable("request to " + request_url + " failed: no socket after connect");
  }
  socket_ = sock;
  origin_ = url.Origin();
  return core::Status::Ok();
}

core::Status RawConnection::Wait(bool for_write, const std::atomic<bool>* cancel) {
  const auto stall_limit = std::chrono::seconds(std::max<long>(options_.low_speed_time_s, 1));
  const auto deadline = Clock::now() + stall_limit;
  for (;;) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return core::Cancelled("cancelled");
    }
    pollfd p{};
    p.fd = socket_;
    p.events = for_write ? POLLOUT : POLLIN;
    const int r = ::poll(&p, 1, kPollSliceMs);
    if (r > 0) return core::Status::Ok();  // ready, or an error the next call will report
    if (r < 0 && errno != EINTR) {
      return core::Unavailable(std::string("poll failed: ") + std::strerror(errno));
    }
    if (Clock::now() >= deadline) {
      return core::DeadlineExceeded("connection to " + origin_ + " stalled: nothing for " +
                                    std::to_string(stall_limit.count()) + " s (check the network)");
    }
  }
}

core::Status RawConnection::SendAll(const std::string& data, const std::atomic<bool>* cancel) {
  std::size_t done = 0;
  while (done < data.size()) {
    std::size_t n = 0;
    const CURLcode rc = curl_easy_send(easy_, data.data() + done, data.size() - done, &n);
    if (rc == CURLE_AGAIN) {
      SDXL_RETURN_IF_ERROR(Wait(true, cancel));
      continue;
    }
    if (rc != CURLE_OK) return CurlTransportError(rc, nullptr, origin_);
    done += n;
  }
  return core::Status::Ok();
}

core::Result<std::size_t> RawConnection::Receive(char* out, std::size_t n,
                                                 const std::atomic<bool>* cancel) {
  for (;;) {
    std::size_t got = 0;
    const CURLcode rc = curl_easy_recv(easy_, out, n, &got);
    if (rc == CURLE_OK) return got;  // 0: the peer closed the connection
    if (rc != CURLE_AGAIN) return CurlTransportError(rc, nullptr, origin_);
    SDXL_RETURN_IF_ERROR(Wait(false, cancel));
  }
}

core::Result<RawConnection::Outcome> RawConnection::Get(const HttpRequest& request, const Url& url,
                                                        const BodyBuffer& body,
                                                        const std::atomic<bool>* cancel,
                                                        HttpResponse* response) {
  if (cancel != nullptr && cancel->load()) return core::Cancelled("cancelled");
  bool reused = easy_ != nullptr && origin_ == url.Origin();
  if (!reused) SDXL_RETURN_IF_ERROR(Open(url, request.url));
  for (;;) {
    bool nothing_received = true;
    *response = HttpResponse{};
    core::Result<Outcome> out = Exchange(request, url, body, cancel, response, &nothing_received);
    if (out.ok()) {
      if (*out == Outcome::kUnsupported) Close();
      return out;
    }
    Close();
    // A kept-alive connection the server already dropped fails before any response byte: the
    // GET is safe to send again, once, on a new connection.
    if (reused && nothing_received && out.status().code() == core::Code::kUnavailable) {
      reused = false;
      SDXL_RETURN_IF_ERROR(Open(url, request.url));
      continue;
    }
    return out.status();
  }
}

core::Result<RawConnection::Outcome> RawConnection::Exchange(const HttpRequest& request,
                                                             const Url& url, const BodyBuffer& body,
                                                             const std::atomic<bool>* cancel,
                                                             HttpResponse* response,
                                                             bool* nothing_received) {
  // The request head. Header values come from our own code (signing), never raw user text, but
  // a CR or LF would still split the request: refuse rather than send it.
  std::string out = "GET " + (url.path.empty() ? std::string("/") : url.path) +
                    (url.query.empty() ? "" : "?" + url.query) + " HTTP/1.1\r\n";
  bool has_host = false;
  bool has_agent = false;
  for (const auto& [k, v] : request.headers) {
    if (k.find_first_of("\r\n:") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos) {
      return core::InvalidArgument("header \"" + k + "\" contains a line break");
    }
    has_host = has_host || IEquals(k, "Host");
    has_agent = has_agent || IEquals(k, "User-Agent");
    out += k + ": " + v + "\r\n";
  }
  if (!has_host) out += "Host: " + url.HostHeader() + "\r\n";
  if (!has_agent) out += "User-Agent: " + options_.user_agent + "\r\n";
  out += "\r\n";
  SDXL_RETURN_IF_ERROR(SendAll(out, cancel));

  // The response head (1xx interim responses are skipped).
  std::string buf;
  Head head;
  std::size_t head_end = 0;
  for (;;) {
    std::size_t scan_from = 0;
    for (;;) {
      const std::size_t found = buf.find("\r\n\r\n", scan_from > 3 ? scan_from - 3 : 0);
      if (found != std::string::npos) {
        head_end = found + 4;
        break;
      }
      if (buf.size() > kMaxHeaderBytes) {
        return core::Unavailable("request to " + request.url +
                                 " failed: response headers over 64 KiB");
      }
      scan_from = buf.size();
      buf.resize(scan_from + kHeaderReadBytes);
      auto got = Receive(buf.data() + scan_from, kHeaderReadBytes, cancel);
      if (!got.ok()) {
        buf.resize(scan_from);
        return got.status();
      }
      buf.resize(scan_from + *got);
      if (*got == 0) {
        return core::Unavailable("request to " + request.url +
                                 " failed: connection closed before a complete response");
      }
      *nothing_received = false;
    }
    SDXL_ASSIGN_OR_RETURN(head, ParseHead(std::string_view(buf).substr(0, head_end), request.url));
    if (head.status >= 200) break;
    buf.erase(0, head_end);  // 100 Continue and other interim responses
  }
  response->status = head.status;
  response->headers = head.headers;
  std::string_view early(buf.data() + head_end, buf.size() - head_end);  // body bytes already in

  const bool is_2xx = head.status >= 200 && head.status < 300;
  if (IsBodiless(head.status)) {
    if (!early.empty() || head.close) Close();
    return Outcome::kDone;
  }
  if (head.chunked || !head.has_length) {
    // Not the S3 GetObject shape: let libcurl handle it (nothing was delivered yet).
    return Outcome::kUnsupported;
  }
  if (early.size() > head.length) {
    return core::Unavailable("request to " + request.url +
                             " failed: more bytes than the Content-Length");
  }

  if (!is_2xx) {
    if (head.length > kMaxErrorBody) {
      return core::Unavailable("request to " + request.url + " returned HTTP " +
                               std::to_string(head.status) + " with an oversized error body");
    }
    response->body.assign(early);
    while (response->body.size() < head.length) {
      const std::size_t have = response->body.size();
      response->body.resize(head.length);
      auto got = Receive(response->body.data() + have, head.length - have, cancel);
      if (!got.ok() || *got == 0) {
        response->body.resize(have);
        return got.ok() ? core::Unavailable("request to " + request.url +
                                            " failed: error body cut short")
                        : got.status();
      }
      response->body.resize(have + *got);
    }
    if (head.close) Close();
    return Outcome::kDone;
  }

  if (head.length > 0 && request.on_body_start && !request.on_body_start(*response)) {
    return core::Cancelled("transfer stopped by the receiver");
  }
  std::uint64_t remaining = head.length;
  while (!early.empty()) {  // bytes that came in with the head: the only copy on this path
    std::span<char> space = body.space();
    const std::size_t n = std::min(space.size(), early.size());
    std::memcpy(space.data(), early.data(), n);
    early.remove_prefix(n);
    remaining -= n;
    response->sink_bytes += n;
    if (!body.commit(n)) return core::Cancelled("transfer stopped by the receiver");
  }
  while (remaining > 0) {
    std::span<char> space = body.space();
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(space.size(), remaining));
    auto got = Receive(space.data(), want, cancel);
    if (!got.ok()) return got.status();
    if (*got == 0) {
      return core::Unavailable("request to " + request.url + " failed: body ended after " +
                               std::to_string(head.length - remaining) + " of " +
                               std::to_string(head.length) + " bytes");
    }
    remaining -= *got;
    response->sink_bytes += *got;
    if (!body.commit(*got)) return core::Cancelled("transfer stopped by the receiver");
  }
  if (head.close) Close();
  return Outcome::kDone;
}

}  // namespace sdxl::http
