#pragma once
// AWS Signature Version 4 for S3: header authentication and presigned (query) URLs.
//
// Pure and thread-safe: the signer holds only immutable credentials and scope; the clock is a
// parameter. S3 rules: the canonical URI is the request path exactly as sent (already
// percent-encoded once by the caller with http::UriEncode(key, keep_slash=true)), never
// normalised and never encoded again. Query keys and values are given raw and encoded here.

#include <chrono>
#include <string>
#include <string_view>

#include "http/http_client.h"
#include "http/url.h"

namespace sdxl::storage {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty when not temporary credentials
  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// The x-amz-content-sha256 value for a request body sent over `scheme`. Over https the body is
// not hashed (UNSIGNED-PAYLOAD, as the AWS SDKs do for S3): TLS already protects it, and hashing
// costs ~1 CPU second per GiB uploaded. Over plain http the SHA-256 of the body is signed, so a
// body corrupted on the way is refused by the server.
std::string PayloadHashFor(std::string_view scheme, std::string_view body);

// A request to sign. `headers` must include Host (any case); the signer adds X-Amz-Date,
// X-Amz-Security-Token (when a token is set), optionally X-Amz-Content-Sha256, and Authorization.
struct SignableRequest {
  std::string method;
  std::string canonical_uri;  // encoded path, e.g. "/bucket/my%20key"
  http::QueryParams query;    // raw keys and values
  http::Headers headers;
  std::string payload_sha256 = std::string(kEmptyPayloadSha256);  // hex, or UNSIGNED-PAYLOAD
};

struct SigningDetails {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  std::string signed_headers;
};

// "20150830T123600Z" and "20150830" for a UTC time point.
std::string AmzDate(std::chrono::system_clock::time_point t);

class SigV4Signer {
 public:
  SigV4Signer(Credentials credentials, std::string region, std::string service = "s3");

  // Adds the auth headers to `request.headers` and returns what was computed.
  // add_content_sha256: also add (and sign) X-Amz-Content-Sha256 (always true for S3).
  // sign_session_token=false adds the token header after signing (a vector-suite variant).
  SigningDetails SignHeaders(SignableRequest& request, std::chrono::system_clock::time_point now,
                             bool add_content_sha256 = true, bool sign_session_token = true) const;

  // Adds X-Amz-Algorithm/Credential/Date/Expires/SignedHeaders(/Security-Token) to the query, signs
  // with `request.payload_sha256` (UNSIGNED-PAYLOAD for S3) and returns the full canonical query
  // string ending in "&X-Amz-Signature=<hex>". Headers signed: those in request.headers.
  std::string PresignQuery(SignableRequest& request, std::chrono::system_clock::time_point now,
                           std::chrono::seconds expires, SigningDetails* details = nullptr,
                           bool sign_session_token = true) const;

  const std::string& region() const { return region_; }
  const Credentials& credentials() const { return credentials_; }

  // Exposed pure steps (for tests).
  static std::string CanonicalHeaders(const http::Headers& headers, std::string* signed_headers);
  static std::string CanonicalRequest(const SignableRequest& request, std::string* signed_headers);

 private:
  std::string Scope(std::string_view date) const;
  std::string Sign(std::string_view date, std::string_view string_to_sign) const;

  Credentials credentials_;
  std::string region_;
  std::string service_;
};

}  // namespace sdxl::storage
