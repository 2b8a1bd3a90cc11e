#pragma once
// S3Config: everything needed to talk to one S3-compatible service, resolved once from the
// environment snapshot, the shared AWS files and explicit overrides (CLI flags), in that order of
// increasing precedence. Immutable after Load; thread-safe to share.
//
// Sources (AWS conventions): AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN;
// AWS_REGION over AWS_DEFAULT_REGION; AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL; AWS_PROFILE;
// AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE (~/.aws/config) with
// profiles, region, endpoint_url (also in the credentials file, as Tigris documents) and a nested
// `s3 =` block (endpoint_url, addressing_style) or a `services` section;
// AWS_S3_ADDRESSING_STYLE (auto|virtual|path); AWS_MAX_ATTEMPTS; AWS_CA_BUNDLE over the profile's
// ca_bundle (a PEM file of trusted certificate authorities, e.g. for a private endpoint).

#include <map>
#include <optional>
#include <string>

#include "core/environment.h"
#include "core/status.h"
#include "storage/sigv4.h"

namespace sdxl::storage {

enum class AddressingStyle { kAuto, kVirtual, kPath };
core::Result<AddressingStyle> ParseAddressingStyle(std::string_view text);

// Explicit settings (CLI flags) that beat every other source. Empty = not given.
struct S3Overrides {
  std::string endpoint_url;
  std::string region;
  std::string profile;
  std::optional<AddressingStyle> addressing_style;
};

struct S3Config {
  Credentials credentials;
  std::string region = "us-east-1";  // "auto" is passed through (Tigris)
  std::string endpoint_url;          // e.g. https://t3.storage.dev; empty = AWS default for region
  AddressingStyle addressing_style = AddressingStyle::kAuto;
  std::string profile = "default";
  int max_attempts = 5;
  std::string ca_bundle;  // PEM file of CAs to trust for https; empty = the system store
  // Where the keys came from, for messages: "environment variables AWS_ACCESS_KEY_ID and
  // AWS_SECRET_ACCESS_KEY" or "profile \"foo\" in /root/.aws/credentials (--profile)"; empty when
  // there are none.
  std::string credentials_source;

  // Resolves the configuration. Missing credentials are not an error here (see
  // RequireCredentials): listing a local directory must not need them.
  static core::Result<S3Config> Load(const core::Environment& env, const S3Overrides& overrides);

  // OK, or Unauthenticated with one line saying which variables or files to set.
  core::Status RequireCredentials() const;

  // The endpoint actually used: endpoint_url, or https://s3.<region>.amazonaws.com.
  std::string EffectiveEndpoint() const;
  // Whether requests for `bucket` use path style (/bucket/key) or virtual-hosted style
  // (bucket.host/key): path style when asked, or in auto mode for IP/localhost endpoints and
  // bucket names that are not valid DNS labels (dots under https, uppercase, underscores).
  bool UsePathStyle(std::string_view bucket) const;
};

// Parsed INI-style AWS shared file: section name -> key -> value. Nested blocks (`s3 =` followed by
// indented `key = value` lines) are stored as "s3.key". Exposed for tests.
using AwsIniFile = std::map<std::string, std::map<std::string, std::string>>;
AwsIniFile ParseAwsIni(std::string_view text);

}  // namespace sdxl::storage
