#pragma once
// Maps a failed libcurl call to a Status: resets, truncated bodies and stalls are retryable
// Unavailable / DeadlineExceeded; bad URLs and certificate problems are not retryable. Shared by
// HttpClient and RawConnection so both transports fail the same way.

#include <curl/curl.h>

#include <string>

#include "core/status.h"

namespace sdxl::http {

// `errbuf`: curl's CURLOPT_ERRORBUFFER text (may be empty); `url`: for the message.
core::Status CurlTransportError(CURLcode rc, const char* errbuf, const std::string& url);

}  // namespace sdxl::http
