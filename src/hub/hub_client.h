#pragma once
// HubClient: downloads model repos from the Hugging Face Hub (or any server speaking its HTTP
// protocol, e.g. HF_ENDPOINT or tools/fake_hub.py) into the huggingface_hub cache.
//
//  - ResolveRevision: branch/tag/commit -> 40-hex commit (`/api/models/{repo}/revision/{rev}`),
//    recorded in refs/<rev>.
//  - ListFiles: every file of the repo at a commit (`/tree/{commit}?recursive=true`, following
//    `Link: rel="next"` pages).
//  - Download: `/resolve/{commit}/{path}`, following redirects itself (the token is sent only to
//    the endpoint's own host), resuming an interrupted blob with `Range`, verifying size and the
//    sha256 (LFS) or git sha1 (small files), then linking it into snapshots/<commit>/.
//    A blob already in the cache is not downloaded again.
// Transient failures (network errors, stalls, 408/429/5xx) are retried with backoff; a 429 waits
// for the time its RateLimit / Retry-After header asks for.
//
// Requests go through the shared http::HttpClient (pooled connections); redirects are followed by
// http::SendFollowingRedirects, which drops the token on the first hop to another origin.
//
// Thread-safe: every method may be called from several threads at once (the HTTP client is
// thread-safe); downloads of the same blob by several threads or processes are serialised by the
// cache's lock files.

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "http/http_client.h"
#include "hub/hf_cache.h"
#include "hub/hub_config.h"
#include "hub/hub_protocol.h"

namespace sdxl::hub {

// Called with the number of new bytes that arrived (from any thread).
using ByteProgress = std::function<void(uint64_t delta)>;

class HubClient {
 public:
  explicit HubClient(HubConfig config);
  ~HubClient();
  HubClient(const HubClient&) = delete;
  HubClient& operator=(const HubClient&) = delete;

  const HubConfig& config() const { return config_; }
  const HfCache& cache() const { return cache_; }

  core::Result<std::string> ResolveRevision(const std::string& repo_id,
                                            const std::string& revision);
  core::Result<std::vector<RepoFile>> ListFiles(const std::string& repo_id,
                                                const std::string& commit);
  // Returns the snapshot path of the file (a symlink into blobs/).
  core::Result<std::filesystem::path> Download(const std::string& repo_id,
                                               const std::string& commit, const RepoFile& file,
                                               const ByteProgress& progress = {});

  // Counters, for progress displays and tests.
  uint64_t requests() const { return requests_.load(); }
  uint64_t bytes_downloaded() const { return bytes_downloaded_.load(); }
  uint64_t files_from_cache() const { return files_from_cache_.load(); }

 private:
  // GET with retries for small JSON answers; returns the 2xx response or a mapped error.
  core::Result<http::HttpResponse> GetJson(const std::string& url, const RequestContext& ctx);
  // Sleeps before retry `attempt` (0-based): backoff, or what a 429 asked for.
  void WaitBeforeRetry(int attempt, const http::Headers* headers);
  core::Status DownloadBlob(const std::string& repo_id, const std::string& commit,
                            const RepoFile& file, const ByteProgress& progress);
  // Accept-Encoding: identity, and the token (Authorization) when one is configured.
  http::Headers RequestHeaders() const;

  HubConfig config_;
  HfCache cache_;
  http::HttpClient http_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> bytes_downloaded_{0};
  std::atomic<uint64_t> files_from_cache_{0};
};

}  // namespace sdxl::hub
