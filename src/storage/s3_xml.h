#pragma once
// S3 XML bodies: parsers for the responses sdxl-tigris reads (ListObjectsV2, errors, multipart)
// and builders for the requests it sends, plus the mapping from S3 errors to clear Statuses.
// Pure functions (pugixml), thread-safe. Malformed XML is a retryable DataLoss (a truncated body
// from a proxy looks like that).

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "storage/object_store.h"

namespace sdxl::storage {

struct S3Error {
  std::string code;  // "NoSuchKey", ...; empty when the body had no <Error>
  std::string message;
  std::string resource;
  std::string request_id;
};
// Parses an <Error> document; returns an empty S3Error for other bodies.
S3Error ParseS3Error(std::string_view body);

// Turns an HTTP error (status >= 300) into a Status whose one-line message says what happened and
// what to do. `what` names the operation and object ("GET s3://b/k").
core::Status S3ErrorToStatus(int http_status, const S3Error& error, std::string_view what);

struct ListPage {
  std::vector<ObjectInfo> objects;  // keys as in the bucket (URL-decoded when encoding-type=url)
  bool truncated = false;
  std::string next_continuation_token;
};
core::Result<ListPage> ParseListObjectsV2(std::string_view body);

core::Result<std::string> ParseInitiateMultipartUpload(std::string_view body);  // UploadId
// CompleteMultipartUpload may answer 200 with an <Error> body: that is an error here.
core::Result<std::string> ParseCompleteMultipartUpload(std::string_view body);  // ETag

struct PartsPage {
  std::vector<PartInfo> parts;
  bool truncated = false;
  std::string next_part_number_marker;
};
core::Result<PartsPage> ParseListParts(std::string_view body);

// Keys that DeleteObjects could not delete, with reasons ("key: AccessDenied ...").
core::Result<std::vector<std::string>> ParseDeleteResult(std::string_view body);

std::string BuildCompleteMultipartUpload(std::span<const PartInfo> parts);
std::string BuildDeleteObjects(std::span<const std::string> keys);  // Quiet mode

// "\"abc\"" -> "abc".
std::string StripQuotes(std::string_view etag);

}  // namespace sdxl::storage
