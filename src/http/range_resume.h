#pragma once
// Resuming a download with `Range: bytes=<offset>-`: the request header, Content-Range parsing,
// and what an answer means for the bytes the caller already has (a server may ignore Range and
// send the whole body with 200, or answer another range than asked for).
// Pure functions, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http_client.h"

namespace sdxl::http {

// "bytes=<offset>-" (the value of a Range header asking for everything from `offset` on).
std::string RangeFrom(std::uint64_t offset);

// A parsed `Content-Range: bytes <first>-<last>/<complete length or *>`.
struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;                        // inclusive
  std::optional<std::uint64_t> complete_length;  // nullopt for "*"
};
// nullopt unless `value` is a well-formed satisfied byte range (first <= last < length).
std::optional<ContentRange> ParseContentRange(std::string_view value);

enum class ResumeAction {
  kAppend,   // the body continues at the caller's offset
  kRestart,  // the body is the whole resource from byte 0 (Range ignored): drop what you have
};
// What the 2xx answer `head` (status + headers) to a request for bytes from `offset` on means.
// 206 must start exactly at `offset` (DataLoss otherwise, not retryable: the server disagrees
// with itself); any other 2xx is the whole resource (kRestart when offset > 0).
core::Result<ResumeAction> CheckResumeResponse(const HttpResponse& head, std::uint64_t offset);

}  // namespace sdxl::http
