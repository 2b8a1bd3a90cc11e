#pragma once
// S3 XML bodies: parsers for the responses sdxl-tigris reads (ListObjectsV2, errors, multipart)
// and builders for the requests it sends, plus the mapping from S3 errors to clear Statuses.
// Pure functions (pugixml), thread-safe. Malformed XML is a retryable DataLoss (a truncated body
// from a proxy looks like that).
//
// The parsers accept what the AWS SDKs accept, not one server's exact bytes: namespaces present,
// absent or prefixed; elements in any order, unknown ones ignored; the root's name checked only
// by its stem (moto answers <CompleteMultipartUploadResponse> where AWS sends ...Result);
// optional fields (ETag, LastModified, IsTruncated, ...) may be missing; ETags with or without
// quotes (or &quot;, or W/). An <Error> document in a 2xx answer is an error, retryable when its
// code is (InternalError, SlowDown, ...). Fixtures: tests/fixtures/s3/ (README there).

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
// CompleteMultipartUpload may answer 200 with an <Error> body, or an empty one: errors here
// (the empty one retryable). Returns the ETag, "" when the server left it out.
core::Result<std::string> ParseCompleteMultipartUpload(std::string_view body);
// CopyObject / UploadPartCopy (`operation` names it in messages): the same 200-with-an-error
// rule. Returns the new ETag. (The tool issues no copies yet; this is ready for it.)
core::Result<std::string> ParseCopyResult(std::string_view body, std::string_view operation);

struct PartsPage {
  std::vector<PartInfo> parts;
  bool truncated = false;
  std::string next_part_number_marker;
};
core::Result<PartsPage> ParseListParts(std::string_view body);

struct UploadsPage {
  std::vector<UploadInfo> uploads;  // keys as in the bucket (URL-decoded when encoding-type=url)
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};
core::Result<UploadsPage> ParseListMultipartUploads(std::string_view body);

// Keys that DeleteObjects could not delete, with reasons ("key: AccessDenied ..."); a NoSuchKey
// entry is not a failure (the key is gone, as asked).
core::Result<std::vector<std::string>> ParseDeleteResult(std::string_view body);

std::string BuildCompleteMultipartUpload(std::span<const PartInfo> parts);
std::string BuildDeleteObjects(std::span<const std::string> keys);  // Quiet mode

// "\"abc\"" -> "abc"; also &quot;abc&quot;, W/"abc" and surrounding white space.
std::string StripQuotes(std::string_view etag);

}  // namespace sdxl::storage
