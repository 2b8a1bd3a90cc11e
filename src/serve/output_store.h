#pragma once
// OutputStore: where the server puts each generated image and the URL the client gets back.
//
//  - DataUrlOutputStore: no upload; the URL is `data:<mime>;base64,...` (what Cog returns when it
//    has no upload URL).
//  - BucketOutputStore: PUBLIC_BUCKET_NAME set: a PUT to the bucket under the name given, with
//    its Content-Type, then a presigned GET URL valid for `expires` (seed default 3600 s).
//  - UploadUrlOutputStore: Cog's `--upload-url U`: PUT the raw bytes to U + name; the result is
//    the response's Location header or the request URL, with the query string stripped.
// A failed upload is an error (the prediction fails): a URL to nothing is never returned.
// Thread-safe: Store may be called from several threads.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http_client.h"
#include "storage/object_store.h"

namespace sdxl::serve {

class OutputStore {
 public:
  virtual ~OutputStore() = default;
  // Stores `bytes` as `name` (a short file name such as "out-x1y2.webp") and returns its URL.
  [[nodiscard]] virtual core::Result<std::string> Store(std::string_view name,
                                                        std::span<const std::uint8_t> bytes,
                                                        std::string_view mime_type) = 0;
  // For logs: "data URLs", "s3://bucket (presigned 3600 s)", "upload URL http://...".
  virtual std::string Describe() const = 0;
};

// RFC 4648 base64 (standard alphabet, padded).
std::string Base64Encode(std::span<const std::uint8_t> bytes);
// "data:<mime>;base64,<...>"
std::string DataUrl(std::string_view mime_type, std::span<const std::uint8_t> bytes);

std::unique_ptr<OutputStore> MakeDataUrlOutputStore();
// `bucket` is rooted at the output bucket (keys are object names); `prefix` is prepended to each
// name ("" or e.g. "outputs/").
std::unique_ptr<OutputStore> MakeBucketOutputStore(std::unique_ptr<storage::ObjectStore> bucket,
                                                   std::string prefix,
                                                   std::chrono::seconds expires);
std::unique_ptr<OutputStore> MakeUploadUrlOutputStore(std::string base_url);

// A short, unguessable object name: "out-" + 22 url-safe random characters + "." + ext.
std::string RandomOutputName(std::string_view extension);

}  // namespace sdxl::serve
