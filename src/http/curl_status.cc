#include "http/curl_status.h"

namespace sdxl::http {

core::Status CurlTransportError(CURLcode rc, const char* errbuf, const std::string& url) {
  const std::string detail =
      errbuf != nullptr && errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  const std::string what = "request to " + url + " failed: " + detail;
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return core::DeadlineExceeded(what + " (connection stalled; check the network)");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return core::Unavailable(what + " (check the endpoint URL and DNS)");
    case CURLE_COULDNT_CONNECT:
      return core::Unavailable(what + " (is the endpoint URL right and the server up?)");
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return core::InvalidArgument(what);
    case CURLE_SSL_CACERT_BADFILE:
      return core::Status(core::Code::kInvalidArgument,
                          what + " (cannot read the CA bundle; check AWS_CA_BUNDLE / ca_bundle)",
                          false);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
      return core::Status(core::Code::kUnavailable,
                          what + " (TLS certificate problem; check the endpoint URL)", false);
    default:
      // Resets, truncated bodies, send/recv errors, empty replies: all transient.
      return core::Unavailable(what);
  }
}

}  // namespace sdxl::http
