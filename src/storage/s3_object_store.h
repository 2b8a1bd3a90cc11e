#pragma once
// S3ObjectStore: ObjectStore over the S3 REST API (AWS S3, Tigris, R2, SeaweedFS, MinIO).
//
// Thread-safe: requests from many threads share one HttpClient (pooled connections) and one
// RetryPolicy (AWS standard mode with a shared retry quota). Each attempt is signed afresh with
// SigV4 at the injected clock's time. Ranged reads resume from the last byte received when they
// are retried. Addressing style follows S3Config::UsePathStyle.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/http_client.h"
#include "http/retry.h"
#include "storage/object_store.h"
#include "storage/s3_config.h"
#include "storage/s3_list_buckets.h"
#include "storage/sigv4.h"

namespace sdxl::storage {

using Clock = std::function<std::chrono::system_clock::time_point()>;

struct S3StoreOptions {
  http::HttpClientOptions http;
  std::function<double()> retry_rng;  // empty: random
  Clock clock;                        // empty: system_clock::now
  // Sleep used between retries (tests inject a no-op). Empty: real, cancellable sleep.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class S3ObjectStore final : public ObjectStore {
 public:
  // `prefix` is the root inside the bucket ("" or "models/x"; a trailing '/' is implied).
  static core::Result<std::unique_ptr<S3ObjectStore>> Create(const S3Config& config,
                                                             std::string bucket, std::string prefix,
                                                             S3StoreOptions options = {});

  std::string Describe() const override;
  std::string DescribeKey(std::string_view key) const override;
  core::Result<ObjectInfo> Head(std::string_view key) override;
  core::Status GetRange(std::string_view key, std::uint64_t offset,
                        std::optional<std::uint64_t> length, const ChunkSink& sink,
                        const ReadOptions& options = {}) override;
  core::Result<std::string> Put(std::string_view key, std::string_view data,
                                std::string_view content_type = {}) override;
  core::Result<std::string> CreateMultipartUpload(std::string_view key) override;
  core::Result<std::string> UploadPart(std::string_view key, std::string_view upload_id,
                                       int part_number, std::string_view data) override;
  core::Result<std::string> CompleteMultipartUpload(std::string_view key,
                                                    std::string_view upload_id,
                                                    std::span<const PartInfo> parts) override;
  core::Status AbortMultipartUpload(std::string_view key, std::string_view upload_id) override;
  core::Result<std::vector<PartInfo>> ListParts(std::string_view key,
                                                std::string_view upload_id) override;
  core::Result<std::vector<UploadInfo>> ListMultipartUploads(std::string_view prefix) override;
  core::Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  core::Status Delete(std::string_view key) override;
  core::Status DeleteMany(std::span<const std::string> keys) override;
  core::Status CreateBucket() override;
  core::Result<std::string> Presign(std::string_view key, PresignMethod method,
                                    std::chrono::seconds expires) override;

  // Every bucket these credentials own (ListBuckets, all pages), sorted by name.
  static core::Result<std::vector<BucketInfo>> ListBuckets(const S3Config& config,
                                                           S3StoreOptions options = {});
  // HeadBucket: true when the bucket exists and these credentials may use it, false when it does
  // not exist; PermissionDenied when it exists but is not ours to use (another account's).
  core::Result<bool> BucketExists();

  // The URL a request for `key` goes to (no query); for tests and messages.
  std::string ObjectUrl(std::string_view key) const;
  const std::string& bucket() const { return bucket_; }

 private:
  struct Call;
  S3ObjectStore(const S3Config& config, std::string bucket, std::string prefix, http::Url endpoint,
                S3StoreOptions options);
  std::string FullKey(std::string_view key) const { return root_ + std::string(key); }
  // Host header value and encoded path for a bucket-level (key == nullptr) or object request.
  void Target(const std::string* full_key, std::string* host, std::string* path) const;
  core::Result<http::HttpResponse> Execute(Call& call);
  void Sleep(std::chrono::milliseconds d, const std::atomic<bool>* cancel);

  S3Config config_;
  std::string bucket_;
  std::string root_;  // "" or "prefix/"
  http::Url endpoint_;
  bool path_style_;
  SigV4Signer signer_;
  S3StoreOptions options_;
  http::HttpClient client_;
  http::RetryPolicy retry_;
};

}  // namespace sdxl::storage
