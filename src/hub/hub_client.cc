#include "hub/hub_client.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include "core/fd_io.h"
#include "core/unique_fd.h"
#include "http/range_resume.h"
#include "http/redirect.h"
#include "http/retry_after.h"
#include "http/url.h"

namespace sdxl::hub {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxRedirects = 10;
// Largest JSON answer (revision, tree page) kept in memory.
constexpr size_t kMaxJsonBody = 64u << 20;

// Streaming SHA-256 (LFS files) or git blob SHA-1 (small files) of a download.
class Digest {
 public:
  Digest(bool sha256, uint64_t size) : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_, sha256 ? EVP_sha256() : EVP_sha1(), nullptr);
    if (!sha256) {
      std::string prefix = "blob " + std::to_string(size);
      EVP_DigestUpdate(ctx_, prefix.data(), prefix.size() + 1);  // includes the NUL
    }
  }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string HexFinal() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

core::Status WriteAll(int fd, const char* p, size_t n, const fs::path& path) {
  const core::IoResult r = core::WriteFull(fd, p, n);
  if (r.ok()) return core::Status::Ok();
  return core::Status(core::Code::kUnavailable,
                      "cannot write " + path.string() + ": " + std::strerror(r.error) +
                          " (free space in the Hugging Face cache, HF_HOME)");
}

http::HttpClientOptions HttpOptions(const HubConfig& c) {
  http::HttpClientOptions o;
  o.connect_timeout_ms = static_cast<long>(c.connect_timeout.count() * 1000);
  o.low_speed_limit_bytes = 1024;
  o.low_speed_time_s = static_cast<long>(c.stall_timeout.count());
  o.user_agent = c.user_agent;
  return o;
}

}  // namespace

HubClient::HubClient(HubConfig config)
    : config_(std::move(config)), cache_(config_.cache_dir), http_(HttpOptions(config_)) {}

HubClient::~HubClient() = default;

http::Headers HubClient::RequestHeaders() const {
  http::Headers h = {{"Accept-Encoding", "identity"}};
  if (config_.token) h.emplace_back("Authorization", "Bearer " + *config_.token);
  return h;
}

void HubClient::WaitBeforeRetry(int attempt, const http::Headers* headers) {
  std::chrono::milliseconds wait = config_.initial_backoff * (1 << std::min(attempt, 10));
  wait = std::min(wait, config_.max_backoff);
  if (headers != nullptr) {
    if (auto asked = http::RequestedRetryDelay(*headers)) {
      auto s = std::min(*asked, config_.max_rate_limit_wait);
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(s) + config_.initial_backoff / 4;
      spdlog::warn("Hugging Face Hub rate limit: waiting {} s as it asked", s.count());
    }
  }
  // +-10% jitter so parallel workers do not retry in lockstep.
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.9, 1.1);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(static_cast<int64_t>(wait.count() * jitter(rng))));
}

core::Result<http::HttpResponse> HubClient::GetJson(const std::string& url,
                                                    const RequestContext& ctx) {
  if (config_.offline) {
    return core::FailedPrecondition("HF_HUB_OFFLINE is set and '" + ctx.repo_id +
                                    "' is not in the cache: unset HF_HUB_OFFLINE to download it");
  }
  core::Status last;
  for (int attempt = 0;; ++attempt) {
    ++requests_;
    http::HttpRequest request;
    request.url = url;
    request.headers = RequestHeaders();
    std::string body;
    bool too_big = false;
    http::BodySink sink = [&](std::string_view chunk) {
      too_big = body.size() + chunk.size() > kMaxJsonBody;
      if (!too_big) body.append(chunk);
      return !too_big;
    };
    auto resp = http_.Send(request, &sink);
    if (too_big) {
      return core::DataLoss("answer from " + http::RedactUrl(url) + " is larger than 64 MiB");
    }
    if (!resp.ok()) {
      last = resp.status();
      if (!last.retryable() || attempt >= config_.max_retries) return last;
      spdlog::debug("retrying {}: {}", url, last.message());
      WaitBeforeRetry(attempt, nullptr);
      continue;
    }
    if (resp->status >= 200 && resp->status < 300) {
      resp->body = std::move(body);
      return resp;
    }
    core::Status err = ErrorForResponse(resp->status, resp->headers, ctx);
    if (!IsRetryableHttpStatus(resp->status) || attempt >= config_.max_retries) return err;
    spdlog::debug("retrying {} after HTTP {}", url, resp->status);
    WaitBeforeRetry(attempt, &resp->headers);
  }
}

core::Result<std::string> HubClient::ResolveRevision(const std::string& repo_id,
                                                     const std::string& revision) {
  SDXL_RETURN_IF_ERROR(ValidateRepoId(repo_id));
  RequestContext ctx{config_.endpoint, repo_id, revision, "", config_.token.has_value()};
  if (config_.offline) {
    if (auto c = cache_.ReadRef(repo_id, revision)) return *c;
    if (fs::is_directory(cache_.SnapshotDir(repo_id, revision))) return revision;
  }
  SDXL_ASSIGN_OR_RETURN(auto resp, GetJson(RevisionUrl(config_.endpoint, repo_id, revision), ctx));
  SDXL_ASSIGN_OR_RETURN(std::string commit, ParseRevisionCommit(resp.body));
  SDXL_RETURN_IF_ERROR(cache_.WriteRef(repo_id, revision, commit));
  return commit;
}

core::Result<std::vector<RepoFile>> HubClient::ListFiles(const std::string& repo_id,
                                                         const std::string& commit) {
  SDXL_RETURN_IF_ERROR(ValidateRepoId(repo_id));
  if (config_.offline) return cache_.ListSnapshot(repo_id, commit);
  RequestContext ctx{config_.endpoint, repo_id, commit, "", config_.token.has_value()};
  std::vector<RepoFile> all;
  std::string url = TreeUrl(config_.endpoint, repo_id, commit);
  for (int page = 0; page < 10000; ++page) {
    SDXL_ASSIGN_OR_RETURN(auto resp, GetJson(url, ctx));
    SDXL_ASSIGN_OR_RETURN(auto files, ParseTreePage(resp.body));
    for (auto& f : files) all.push_back(std::move(f));
    auto link = resp.Header("Link");
    if (!link) return all;
    auto next = ParseLinkNext(*link);
    if (!next) return all;
    SDXL_ASSIGN_OR_RETURN(std::string next_url, http::ResolveReference(url, *next));
    if (!http::SameOrigin(next_url, config_.endpoint)) {
      return core::DataLoss("the Hub's next-page link points to another host (" +
                            http::RedactUrl(next_url) + "): refusing to send the token there");
    }
    url = next_url;
  }
  return core::DataLoss("the Hub's tree listing of '" + repo_id + "' has more than 10000 pages");
}

core::Result<fs::path> HubClient::Download(const std::string& repo_id, const std::string& commit,
                                           const RepoFile& file, const ByteProgress& progress) {
  SDXL_RETURN_IF_ERROR(ValidateRepoId(repo_id));
  if (file.etag().empty()) {
    return core::InvalidArgument("cannot download '" + file.path +
                                 "': its listing has no oid (use ListFiles first)");
  }
  if (auto p = cache_.Find(repo_id, commit, file)) {
    ++files_from_cache_;
    if (progress) progress(file.size);
    return *p;
  }
  if (config_.offline) {
    return core::FailedPrecondition("HF_HUB_OFFLINE is set and '" + file.path + "' of '" + repo_id +
                                    "' is not in the cache: unset HF_HUB_OFFLINE");
  }
  SDXL_ASSIGN_OR_RETURN(auto lock, FileLock::Acquire(cache_.LockPath(repo_id, file.etag())));
  // Another process may have finished it while we waited for the lock.
  if (auto p = cache_.Find(repo_id, commit, file)) {
    ++files_from_cache_;
    if (progress) progress(file.size);
    return *p;
  }
  core::Status st = DownloadBlob(repo_id, commit, file, progress);
  if (st.code() == core::Code::kDataLoss) {
    // A corrupt resumed prefix or a bad transfer: start over once from byte 0.
    spdlog::warn("{}: {}; downloading it again from the start", file.path, st.message());
    std::error_code ec;
    fs::remove(cache_.IncompletePath(repo_id, file.etag()), ec);
    st = DownloadBlob(repo_id, commit, file, progress);
  }
  SDXL_RETURN_IF_ERROR(st);
  SDXL_RETURN_IF_ERROR(cache_.LinkSnapshot(repo_id, commit, file));
  return cache_.SnapshotDir(repo_id, commit) / file.path;
}

core::Status HubClient::DownloadBlob(const std::string& repo_id, const std::string& commit,
                                     const RepoFile& file, const ByteProgress& progress) {
  RequestContext ctx{config_.endpoint, repo_id, commit, file.path, config_.token.has_value()};
  fs::path part = cache_.IncompletePath(repo_id, file.etag());
  std::error_code ec;
  fs::create_directories(part.parent_path(), ec);
  core::UniqueFd fd(::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    return core::Unavailable("cannot open " + part.string() + ": " + std::strerror(errno));
  }
  struct stat stbuf {};
  ::fstat(fd.get(), &stbuf);
  uint64_t offset = static_cast<uint64_t>(stbuf.st_size);
  if (offset > file.size) {
    if (::ftruncate(fd.get(), 0) != 0) return core::Unavailable("cannot truncate " + part.string());
    offset = 0;
  }
  const bool lfs = file.lfs_sha256.has_value();
  auto digest = std::make_unique<Digest>(lfs, file.size);
  if (offset > 0) {
    // Hash the prefix we already have, then resume after it.
    std::vector<char> buf(1 << 20);
    uint64_t done = 0;
    while (done < offset) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), offset - done));
      const core::IoResult r = core::PreadFull(fd.get(), buf.data(), want, done);
      if (!r.ok() || r.done < want) return core::Unavailable("cannot read " + part.string());
      digest->Update(buf.data(), r.done);
      done += r.done;
    }
    spdlog::debug("{}: resuming at byte {} of {}", file.path, offset, file.size);
    if (progress) progress(offset);
  }
  if (::lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    return core::Unavailable("cannot seek in " + part.string());
  }

  for (int attempt = 0;; ++attempt) {
    if (offset == file.size) break;
    http::HttpRequest request;
    request.url = ResolveUrl(config_.endpoint, repo_id, commit, file.path);
    request.headers = RequestHeaders();
    if (offset > 0) request.headers.emplace_back("Range", http::RangeFrom(offset));
    // Why the receiver stopped the transfer (Send itself then says Cancelled).
    core::Status receiver;
    request.on_body_start = [&](const http::HttpResponse& head) {
      auto action = http::CheckResumeResponse(head, offset);
      if (!action.ok()) {
        receiver = action.status();
        return false;
      }
      if (*action == http::ResumeAction::kRestart) {  // the server ignored Range: start over
        if (::ftruncate(fd.get(), 0) != 0 || ::lseek(fd.get(), 0, SEEK_SET) < 0) {
          receiver = core::Unavailable("cannot truncate " + part.string());
          return false;
        }
        offset = 0;
        digest = std::make_unique<Digest>(lfs, file.size);
      }
      return true;
    };
    http::BodySink sink = [&](std::string_view chunk) {
      if (offset + chunk.size() > file.size) {
        receiver = core::DataLoss("server sent more than the expected " +
                                  std::to_string(file.size) + " bytes");
        return false;
      }
      receiver = WriteAll(fd.get(), chunk.data(), chunk.size(), part);
      if (!receiver.ok()) return false;
      digest->Update(chunk.data(), chunk.size());
      offset += chunk.size();
      bytes_downloaded_ += chunk.size();
      if (progress) progress(chunk.size());
      return true;
    };
    ++requests_;
    auto sent =
        http::SendFollowingRedirects(http_, std::move(request), &sink, nullptr, kMaxRedirects);
    if (sent.ok()) requests_ += static_cast<uint64_t>(sent->redirects);
    core::Status failure;
    const http::Headers* retry_headers = nullptr;
    bool done = false;
    if (!receiver.ok()) {
      failure = receiver;
    } else if (!sent.ok()) {
      failure = sent.status();
    } else {
      const http::HttpResponse& last = sent->response;
      if (last.status == 200 || last.status == 206) {
        done = true;
      } else if (last.status == 416 && offset == file.size) {
        done = true;
      } else {
        failure = ErrorForResponse(last.status, last.headers, ctx);
        if (IsRetryableHttpStatus(last.status)) retry_headers = &last.headers;
      }
    }
    if (done && offset == file.size) break;
    if (done) {
      failure = core::Unavailable("connection closed after " + std::to_string(offset) + " of " +
                                  std::to_string(file.size) + " bytes");
    }
    if (!failure.retryable() || attempt >= config_.max_retries) {
      return failure.Annotate("downloading " + repo_id + "/" + file.path);
    }
    spdlog::debug("{}: {} (retry {} at byte {})", file.path, failure.message(), attempt + 1,
                  offset);
    WaitBeforeRetry(attempt, retry_headers);
  }

  std::string got = digest->HexFinal();
  const std::string& want = lfs ? *file.lfs_sha256 : file.oid;
  if (want.size() == got.size() && got != want) {
    return core::DataLoss("checksum mismatch for '" + file.path + "' (" +
                          (lfs ? "sha256 " : "git sha1 ") + got + " != " + want + ")");
  }
  if (::fsync(fd.get()) != 0) return core::Unavailable("cannot fsync " + part.string());
  fs::rename(part, cache_.BlobPath(repo_id, file.etag()), ec);
  if (ec) return core::Unavailable("cannot rename " + part.string() + ": " + ec.message());
  return core::Status::Ok();
}

}  // namespace sdxl::hub
