#pragma once
// Pure pieces of the Hugging Face Hub wire protocol: URL building, `Link` pagination, ETag
// normalisation, tree-page parsing, which statuses to retry, and the mapping of error responses
// (status + X-Error-Code / X-Error-Message) to clear Status values. Generic HTTP pieces (URL
// encoding, redirects, Range, RateLimit / Retry-After) live in src/http.
// Everything here is a plain function of its inputs: thread-safe, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/http_client.h"

namespace sdxl::hub {

// One file of a repo tree (`GET /api/models/{repo}/tree/{rev}?recursive=true`).
struct RepoFile {
  std::string path;   // path inside the repo, '/'-separated
  uint64_t size = 0;  // size of the file contents (the LFS object for LFS files)
  std::string oid;    // git blob sha1 (of the pointer file for LFS files)
  std::optional<std::string> lfs_sha256;  // sha256 of the contents, for LFS files
  // The cache blob name huggingface_hub uses: the LFS sha256, else the git blob sha1.
  const std::string& etag() const { return lfs_sha256 ? *lfs_sha256 : oid; }
};

// A repo id "org/name" or "name": 1-96 characters of [A-Za-z0-9._-] per part, no "--"/".."
// at the edges. Returns an error that says what a valid id looks like.
core::Status ValidateRepoId(std::string_view repo_id);

// "models--org--name" (huggingface_hub's repo_folder_name for model repos).
std::string RepoFolderName(std::string_view repo_id);

// Endpoint URLs (models only). The revision is quoted whole (`quote(rev, safe='')`), the file path
// with its '/' kept (`quote(path)`), as huggingface_hub does.
std::string RevisionUrl(std::string_view endpoint, std::string_view repo_id,
                        std::string_view revision);
std::string TreeUrl(std::string_view endpoint, std::string_view repo_id, std::string_view revision);
std::string ResolveUrl(std::string_view endpoint, std::string_view repo_id,
                       std::string_view revision, std::string_view path);
std::string RepoPageUrl(std::string_view endpoint, std::string_view repo_id);

// The target of `rel="next"` in a GitHub-style Link header, if any.
std::optional<std::string> ParseLinkNext(std::string_view link_header);

// Strips a weak prefix `W/` and surrounding quotes.
std::string NormalizeEtag(std::string_view etag);

// True for the statuses huggingface_hub retries: 408, 429, 500, 502, 503, 504.
bool IsRetryableHttpStatus(long status);

// Parses one page of a tree listing (a JSON array). Folders are skipped.
core::Result<std::vector<RepoFile>> ParseTreePage(std::string_view json);

// Parses a revision answer (`{"sha": "<40 hex>", ...}`) and returns the commit.
core::Result<std::string> ParseRevisionCommit(std::string_view json);

// What a failed request was about, for the error message.
struct RequestContext {
  std::string endpoint;
  std::string repo_id;
  std::string revision;
  std::string path;  // empty for repo-level calls
  bool has_token = false;
};

// Maps a non-2xx response to a Status with one line that says what to do.
// Header names are matched case-insensitively.
core::Status ErrorForResponse(long status, const http::Headers& headers, const RequestContext& ctx);

}  // namespace sdxl::hub
