#pragma once
// ObjectStore: the storage interface every other module uses (S3-compatible services or a local
// directory), rooted at a bucket plus an optional key prefix. Keys passed to and returned by the
// methods are relative to that root ("unet/model.safetensors" under s3://b/models/x is stored as
// "models/x/unet/model.safetensors").
//
// Thread-safe: implementations may be called from many threads at once (the transfer engine does).
// Returned values are owned by the caller. Every failure is a Status with a one-line message that
// says what to do; transient failures are retried inside (AWS standard retry mode) before they are
// returned.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/body_buffer.h"
#include "storage/s3_config.h"

namespace sdxl::storage {

struct ObjectInfo {
  std::string key;  // relative to the store root
  std::uint64_t size = 0;
  std::string etag;  // without quotes
  std::string last_modified;
};

struct PartInfo {
  int number = 0;  // 1-based
  std::string etag;
  std::uint64_t size = 0;
};

// A multipart upload that was started and neither completed nor aborted: a writer killed
// mid-upload leaves one behind, and its parts hold storage until it is aborted.
struct UploadInfo {
  std::string key;  // relative to the store root
  std::string upload_id;
  std::string initiated;  // ISO 8601 as the server sent it; "" when it left it out
};

// Receives the bytes of a ranged read in order, straight from the network buffer. Return false
// to stop (the read then fails with Cancelled unless the sink's owner records another reason).
using ChunkSink = std::function<bool(std::string_view chunk)>;

struct ReadOptions {
  std::string if_match;  // ETag the object must still have (412 -> FailedPrecondition)
  const std::atomic<bool>* cancel = nullptr;
  // Retries inside GetRange; the transfer engine sets 1 and resumes ranges itself.
  int max_attempts = 0;  // 0 = the store's default
  // Optional zero-copy receiver beside the sink (http/body_buffer.h): a store that can receive
  // into caller memory (S3 over a direct HTTP connection) uses it instead of the sink; the others
  // ignore it. Same bytes, same order; the sink is still required.
  const http::BodyBuffer* buffer = nullptr;
};

enum class PresignMethod { kGet, kPut };

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // "s3://bucket/prefix" or "file:///abs/path" (for messages).
  virtual std::string Describe() const = 0;
  // The full location of `key` in the same form.
  virtual std::string DescribeKey(std::string_view key) const = 0;

  virtual core::Result<ObjectInfo> Head(std::string_view key) = 0;

  // Streams bytes [offset, offset+length) (to the end when length is nullopt) into `sink`.
  // More or fewer bytes than asked is DataLoss.
  virtual core::Status GetRange(std::string_view key, std::uint64_t offset,
                                std::optional<std::uint64_t> length, const ChunkSink& sink,
                                const ReadOptions& options = {}) = 0;

  // Reads exactly out.size() bytes at `offset` into `out`.
  core::Status ReadRange(std::string_view key, std::uint64_t offset, std::span<char> out,
                         const ReadOptions& options = {});
  // Reads a whole (small) object into memory.
  core::Result<std::string> GetObject(std::string_view key, const ReadOptions& options = {});

  // Stores a small object in one request; returns its ETag.
  virtual core::Result<std::string> Put(std::string_view key, std::string_view data,
                                        std::string_view content_type = {}) = 0;

  // Multipart upload (parts >= 5 MiB except the last, numbers 1..10000).
  virtual core::Result<std::string> CreateMultipartUpload(std::string_view key) = 0;  // upload id
  virtual core::Result<std::string> UploadPart(std::string_view key, std::string_view upload_id,
                                               int part_number, std::string_view data) = 0;
  virtual core::Result<std::string> CompleteMultipartUpload(std::string_view key,
                                                            std::string_view upload_id,
                                                            std::span<const PartInfo> parts) = 0;
  virtual core::Status AbortMultipartUpload(std::string_view key, std::string_view upload_id) = 0;
  virtual core::Result<std::vector<PartInfo>> ListParts(std::string_view key,
                                                        std::string_view upload_id) = 0;

  // Incomplete multipart uploads whose key starts with `prefix` (all pages), sorted by key.
  virtual core::Result<std::vector<UploadInfo>> ListMultipartUploads(std::string_view prefix) = 0;

  // Every object whose key starts with `prefix` (all pages), sorted by key.
  virtual core::Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;

  // Deleting a missing key is OK (S3 semantics).
  virtual core::Status Delete(std::string_view key) = 0;
  // Batch delete (S3 DeleteObjects, 1000 per request).
  virtual core::Status DeleteMany(std::span<const std::string> keys);

  // Creates the bucket (or directory). Already owning it is OK.
  virtual core::Status CreateBucket() = 0;

  // A URL anyone can use until it expires (max 7 days). Local stores return Unimplemented.
  virtual core::Result<std::string> Presign(std::string_view key, PresignMethod method,
                                            std::chrono::seconds expires) = 0;
};

// Where a location string points.
struct Location {
  enum class Kind { kS3, kLocal } kind = Kind::kLocal;
  std::string bucket;  // S3 only
  std::string prefix;  // S3: key prefix as written (no leading '/'); may be empty
  std::string path;    // local only: the filesystem path
};
// Accepts "s3://bucket[/prefix]", "file://path", a local path (absolute, ./, ../, or anything
// containing '/' or existing on disk), and a bare bucket name (-> s3 on the configured endpoint).
core::Result<Location> ParseLocation(std::string_view location);

// Opens a store rooted at `location` (see ParseLocation). S3 locations need credentials
// (config.RequireCredentials). A prefix root is treated as a directory: "s3://b/models/x" stores
// key "k" at "models/x/k".
core::Result<std::unique_ptr<ObjectStore>> OpenObjectStore(std::string_view location,
                                                           const S3Config& config);

}  // namespace sdxl::storage
