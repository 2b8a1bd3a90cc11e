#pragma once
// How long an overloaded server (429 Too Many Requests, 503) asks a client to wait before it
// tries again, from the IETF `RateLimit` header (`"policy";r=<remaining>;t=<seconds to reset>`,
// draft-ietf-httpapi-ratelimit-headers, as the Hugging Face Hub sends it) or `Retry-After:
// <seconds>`. Pure function, thread-safe.

#include <chrono>
#include <optional>

#include "http/http_client.h"

namespace sdxl::http {

// RateLimit's `t=` first, then Retry-After's delta-seconds; nullopt when neither carries a
// number (an HTTP-date Retry-After is not used). Header names are matched case-insensitively.
std::optional<std::chrono::seconds> RequestedRetryDelay(const Headers& headers);

}  // namespace sdxl::http
