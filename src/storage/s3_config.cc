#include "storage/s3_config.h"

#include <cctype>
#include <sstream>

#include "core/file_util.h"
#include "http/url.h"

namespace sdxl::storage {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The file's text, or nothing when it cannot be read (a missing AWS file is not an error).
std::optional<std::string> ReadTextFile(const std::string& path) {
  auto text = core::ReadFile(path, 64u << 20);
  if (!text.ok()) return std::nullopt;
  return std::move(text).value();
}

const std::string* Find(const AwsIniFile& ini, const std::string& section, const std::string& key) {
  auto s = ini.find(section);
  if (s == ini.end()) return nullptr;
  auto k = s->second.find(key);
  if (k == s->second.end() || k->second.empty()) return nullptr;
  return &k->second;
}

// The config-file section of a profile: [default] or [profile NAME].
std::string ConfigSection(const AwsIniFile& config, const std::string& profile) {
  if (profile == "default" && config.count("default") != 0) return "default";
  return "profile " + profile;
}

}  // namespace

core::Result<AddressingStyle> ParseAddressingStyle(std::string_view text) {
  const std::string t = Lower(Trim(text));
  if (t == "auto" || t.empty()) return AddressingStyle::kAuto;
  if (t == "virtual") return AddressingStyle::kVirtual;
  if (t == "path") return AddressingStyle::kPath;
  return core::InvalidArgument("addressing style \"" + std::string(text) +
                               "\" is not one of auto, virtual, path");
}

AwsIniFile ParseAwsIni(std::string_view text) {
  AwsIniFile ini;
  std::string section;
  std::string nested;  // parent key of an indented block ("s3")
  std::istringstream in{std::string(text)};
  std::string raw;
  while (std::getline(in, raw)) {
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    const std::string line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const bool indented = std::isspace(static_cast<unsigned char>(raw[0]));
    if (line.front() == '[' && line.back() == ']') {
      section = Trim(std::string_view(line).substr(1, line.size() - 2));
      nested.clear();
      ini[section];
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos || section.empty()) continue;
    const std::string key = Lower(Trim(std::string_view(line).substr(0, eq)));
    std::string value = Trim(std::string_view(line).substr(eq + 1));
    if (indented && !nested.empty()) {
      ini[section][nested + "." + key] = value;
      continue;
    }
    nested = value.empty() ? key : "";
    ini[section][key] = value;
  }
  return ini;
}

core::Result<S3Config> S3Config::Load(const core::Environment& env, const S3Overrides& ov) {
  S3Config c;
  c.profile = !ov.profile.empty() ? ov.profile : env.GetOr("AWS_PROFILE", "default");
  const std::string home = env.Home();
  const std::string cred_path =
      env.Get("AWS_SHARED_CREDENTIALS_FILE").value_or(home + "/.aws/credentials");
  const std::string config_path = env.Get("AWS_CONFIG_FILE").value_or(home + "/.aws/config");
  const AwsIniFile creds_ini = ParseAwsIni(ReadTextFile(cred_path).value_or(""));
  const AwsIniFile config_ini = ParseAwsIni(ReadTextFile(config_path).value_or(""));
  const std::string csec = ConfigSection(config_ini, c.profile);
  const bool profile_exists = creds_ini.count(c.profile) != 0 || config_ini.count(csec) != 0;
  if (c.profile != "default" && !profile_exists) {
    return core::InvalidArgument("AWS profile \"" + c.profile + "\" is not in " + cred_path +
                                 " or " + config_path + "; fix AWS_PROFILE/--profile");
  }
  auto profile_value = [&](const std::string& key) -> const std::string* {
    if (const auto* v = Find(creds_ini, c.profile, key)) return v;
    return Find(config_ini, csec, key);
  };

  // Credentials: environment first, unless a profile was named explicitly on the command line.
  const auto env_key = env.Get("AWS_ACCESS_KEY_ID");
  const auto env_secret = env.Get("AWS_SECRET_ACCESS_KEY");
  const bool use_env = env_key && env_secret && ov.profile.empty();
  if (use_env) {
    c.credentials = {*env_key, *env_secret,
                     env.GetFirst({"AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}).value_or("")};
    c.credentials_source = "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  } else if (const auto* key = profile_value("aws_access_key_id")) {
    const auto* secret = profile_value("aws_secret_access_key");
    const auto* token = profile_value("aws_session_token");
    c.credentials = {*key, secret ? *secret : "", token ? *token : ""};
    const bool in_creds_file = Find(creds_ini, c.profile, "aws_access_key_id") != nullptr;
    c.credentials_source =
        "profile \"" + c.profile + "\" in " + (in_creds_file ? cred_path : config_path) +
        (ov.profile.empty() ? (env.Get("AWS_PROFILE") ? " (AWS_PROFILE)" : "") : " (--profile)");
  }

  // Region.
  if (!ov.region.empty()) {
    c.region = ov.region;
  } else if (auto r = env.GetFirst({"AWS_REGION", "AWS_DEFAULT_REGION"})) {
    c.region = *r;
  } else if (const auto* r2 = profile_value("region")) {
    c.region = *r2;
  }

  if (auto ca = env.GetFirst({"AWS_CA_BUNDLE"})) {
    c.ca_bundle = *ca;
  } else if (const auto* ca2 = profile_value("ca_bundle")) {
    c.ca_bundle = *ca2;
  }

  // Endpoint: flag > service-specific env > global env > profile `s3 =` block > `services`
  // section > profile endpoint_url.
  const bool ignore_configured =
      Lower(env.GetOr("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")) == "true";
  if (!ov.endpoint_url.empty()) {
    c.endpoint_url = ov.endpoint_url;
  } else if (!ignore_configured) {
    if (auto e = env.GetFirst({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})) {
      c.endpoint_url = *e;
    } else if (const auto* e2 = profile_value("s3.endpoint_url")) {
      c.endpoint_url = *e2;
    } else if (const auto* services = profile_value("services");
               services != nullptr &&
               Find(config_ini, "services " + *services, "s3.endpoint_url") != nullptr) {
      c.endpoint_url = *Find(config_ini, "services " + *services, "s3.endpoint_url");
    } else if (const auto* e3 = profile_value("endpoint_url")) {
      c.endpoint_url = *e3;
    }
  }
  while (!c.endpoint_url.empty() && c.endpoint_url.back() == '/') c.endpoint_url.pop_back();
  if (!c.endpoint_url.empty()) {
    auto url = http::ParseUrl(c.endpoint_url);
    if (!url.ok()) return url.status().Annotate("endpoint URL");
  }

  // Addressing style.
  if (ov.addressing_style) {
    c.addressing_style = *ov.addressing_style;
  } else if (auto s = env.Get("AWS_S3_ADDRESSING_STYLE")) {
    SDXL_ASSIGN_OR_RETURN(c.addressing_style, ParseAddressingStyle(*s));
  } else if (const auto* s2 = profile_value("s3.addressing_style")) {
    SDXL_ASSIGN_OR_RETURN(c.addressing_style, ParseAddressingStyle(*s2));
  }

  // Attempts.
  std::string attempts;
  if (auto a = env.Get("AWS_MAX_ATTEMPTS")) {
    attempts = *a;
  } else if (const auto* a2 = profile_value("max_attempts")) {
    attempts = *a2;
  }
  if (!attempts.empty()) {
    char* end = nullptr;
    const long n = std::strtol(attempts.c_str(), &end, 10);
    if (*end != '\0' || n < 1 || n > 100) {
      return core::InvalidArgument("AWS_MAX_ATTEMPTS/max_attempts \"" + attempts +
                                   "\" must be a whole number from 1 to 100");
    }
    c.max_attempts = static_cast<int>(n);
  }
  return c;
}

core::Status S3Config::RequireCredentials() const {
  if (!credentials.access_key_id.empty() && !credentials.secret_access_key.empty()) {
    return core::Status::Ok();
  }
  if (!credentials.access_key_id.empty()) {
    return core::Unauthenticated("AWS profile \"" + profile +
                                 "\" has aws_access_key_id but no aws_secret_access_key; add it");
  }
  return core::Unauthenticated(
      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
      "AWS_ENDPOINT_URL_S3, e.g. https://t3.storage.dev), or add them to ~/.aws/credentials "
      "(profile \"" +
      profile + "\")");
}

std::string S3Config::EffectiveEndpoint() const {
  if (!endpoint_url.empty()) return endpoint_url;
  const std::string r = (region.empty() || region == "auto") ? "us-east-1" : region;
  return r == "us-east-1" ? "https://s3.amazonaws.com" : "https://s3." + r + ".amazonaws.com";
}

bool S3Config::UsePathStyle(std::string_view bucket) const {
  if (addressing_style == AddressingStyle::kPath) return true;
  auto url = http::ParseUrl(EffectiveEndpoint());
  if (addressing_style == AddressingStyle::kVirtual) return false;
  if (!url.ok() || http::IsIpOrLocalhost(url->host)) return true;
  // Virtual-hosted needs a DNS-compatible bucket name (and no dots under TLS: the wildcard
  // certificate covers one label only).
  if (bucket.size() < 3 || bucket.size() > 63) return true;
  for (char ch : bucket) {
    const auto c = static_cast<unsigned char>(ch);
    if (!(std::islower(c) || std::isdigit(c) || c == '-' || c == '.')) return true;
    if (c == '.' && url->scheme == "https") return true;
  }
  return false;
}

}  // namespace sdxl::storage
