#include "storage/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "core/hash.h"

namespace sdxl::storage {
namespace {

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  core::Sha256 h;
  h.Update(data);
  return h.FinishHex();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses runs of whitespace (spaces, tabs, folded newlines) into one space.
std::string CanonicalValue(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// Headers botocore and aws-c-auth never sign (proxies and clients rewrite them).
bool IsUnsignedHeader(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "user-agent" || lower_name == "expect" ||
         lower_name == "transfer-encoding" || lower_name == "x-amzn-trace-id" ||
         lower_name == "connection";
}

}  // namespace

std::string AmzDate(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Signer::SigV4Signer(Credentials credentials, std::string region, std::string service)
    : credentials_(std::move(credentials)),
      region_(std::move(region)),
      service_(std::move(service)) {}

std::string SigV4Signer::CanonicalHeaders(const http::Headers& headers,
                                          std::string* signed_headers) {
  std::map<std::string, std::string> merged;  // sorted by lowercase name
  for (const auto& [name, value] : headers) {
    std::string key = Lower(name);
    if (IsUnsignedHeader(key)) continue;
    auto [it, inserted] = merged.emplace(key, CanonicalValue(value));
    if (!inserted) it->second += "," + CanonicalValue(value);
  }
  std::string out;
  signed_headers->clear();
  for (const auto& [k, v] : merged) {
    out += k;
    out.push_back(':');
    out += v;
    out.push_back('\n');
    if (!signed_headers->empty()) signed_headers->push_back(';');
    *signed_headers += k;
  }
  return out;
}

std::string SigV4Signer::CanonicalRequest(const SignableRequest& request,
                                          std::string* signed_headers) {
  std::string out = request.method;
  out.push_back('\n');
  out += request.canonical_uri.empty() ? "/" : request.canonical_uri;
  out.push_back('\n');
  out += http::CanonicalQueryString(request.query);
  out.push_back('\n');
  out += CanonicalHeaders(request.headers, signed_headers);
  out.push_back('\n');
  out += *signed_headers;
  out.push_back('\n');
  out += request.payload_sha256;
  return out;
}

std::string SigV4Signer::Scope(std::string_view date) const {
  return std::string(date) + "/" + region_ + "/" + service_ + "/aws4_request";
}

std::string SigV4Signer::Sign(std::string_view date, std::string_view string_to_sign) const {
  const std::string k_date = Hmac("AWS4" + credentials_.secret_access_key, date);
  const std::string k_region = Hmac(k_date, region_);
  const std::string k_service = Hmac(k_region, service_);
  const std::string k_signing = Hmac(k_service, "aws4_request");
  return Hex(Hmac(k_signing, string_to_sign));
}

SigningDetails SigV4Signer::SignHeaders(SignableRequest& request,
                                        std::chrono::system_clock::time_point now,
                                        bool add_content_sha256, bool sign_session_token) const {
  const std::string amz_date = AmzDate(now);
  const std::string date = amz_date.substr(0, 8);
  request.headers.emplace_back("X-Amz-Date", amz_date);
  if (add_content_sha256)
    request.headers.emplace_back("X-Amz-Content-Sha256", request.payload_sha256);
  const bool token = !credentials_.session_token.empty();
  if (token && sign_session_token) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials_.session_token);
  }
  SigningDetails d;
  d.canonical_request = CanonicalRequest(request, &d.signed_headers);
  d.string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + Scope(date) + "\n" + Sha256Hex(d.canonical_request);
  d.signature = Sign(date, d.string_to_sign);
  if (token && !sign_session_token) {
    request.headers.emplace_back("X-Amz-Security-Token", credentials_.session_token);
  }
  request.headers.emplace_back("Authorization",
                               "AWS4-HMAC-SHA256 Credential=" + credentials_.access_key_id + "/" +
                                   Scope(date) + ", SignedHeaders=" + d.signed_headers +
                                   ", Signature=" + d.signature);
  return d;
}

std::string SigV4Signer::PresignQuery(SignableRequest& request,
                                      std::chrono::system_clock::time_point now,
                                      std::chrono::seconds expires, SigningDetails* details,
                                      bool sign_session_token) const {
  const std::string amz_date = AmzDate(now);
  const std::string date = amz_date.substr(0, 8);
  std::string signed_headers;
  CanonicalHeaders(request.headers, &signed_headers);
  request.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  request.query.emplace_back("X-Amz-Credential", credentials_.access_key_id + "/" + Scope(date));
  request.query.emplace_back("X-Amz-Date", amz_date);
  request.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  const bool token = !credentials_.session_token.empty();
  if (token && sign_session_token) {
    request.query.emplace_back("X-Amz-Security-Token", credentials_.session_token);
  }
  request.query.emplace_back("X-Amz-SignedHeaders", signed_headers);
  SigningDetails d;
  d.canonical_request = CanonicalRequest(request, &d.signed_headers);
  d.string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + Scope(date) + "\n" + Sha256Hex(d.canonical_request);
  d.signature = Sign(date, d.string_to_sign);
  std::string query = http::CanonicalQueryString(request.query);
  if (token && !sign_session_token) {
    query += "&X-Amz-Security-Token=" + http::UriEncode(credentials_.session_token, false);
  }
  query += "&X-Amz-Signature=" + d.signature;
  if (details != nullptr) *details = std::move(d);
  return query;
}

std::string PayloadHashFor(std::string_view scheme, std::string_view body) {
  if (body.empty()) return std::string(kEmptyPayloadSha256);
  if (scheme == "https") return std::string(kUnsignedPayload);
  return Sha256Hex(body);
}

}  // namespace sdxl::storage
