#include "cli/s3_flags.h"

#include <csignal>
#include <cstdlib>
#include <map>

namespace sdxl::cli {
namespace {

// The one piece of process-wide mutable state: what a signal handler may touch.
std::atomic<bool> g_cancel_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnCancelSignal(int sig) {
  g_cancel_requested.store(true);
  std::signal(sig, SIG_DFL);  // a second Ctrl-C ends the process at once
}

}  // namespace

void AddS3Flags(CLI::App* cmd, S3Flags* flags) {
  cmd->add_option("--endpoint-url", flags->endpoint_url,
                  "S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, profile)");
  cmd->add_option("--region", flags->region, "Signing region (default: AWS_REGION or profile)");
  cmd->add_option("--profile", flags->profile, "Profile in ~/.aws/credentials and ~/.aws/config");
  cmd->add_option("--addressing-style", flags->addressing_style,
                  "auto|virtual|path (default: AWS_S3_ADDRESSING_STYLE or auto)");
}

void AddTransferFlags(CLI::App* cmd, TransferFlags* flags) {
  cmd->add_option("--concurrency", flags->concurrency, "Parallel requests (default 16)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--part-size", flags->part_size,
                  "Upload part and download range size, e.g. 16MiB (default: 16MiB parts, "
                  "64MiB ranges; at least 5MiB)");
}

S3Flags MergeS3Flags(const S3Flags& global, const S3Flags& local) {
  S3Flags f = local;
  if (f.endpoint_url.empty()) f.endpoint_url = global.endpoint_url;
  if (f.region.empty()) f.region = global.region;
  if (f.profile.empty()) f.profile = global.profile;
  if (f.addressing_style.empty()) f.addressing_style = global.addressing_style;
  return f;
}

core::Environment ApplyS3FlagsToEnvironment(const core::Environment& env, const S3Flags& flags) {
  if (flags.empty()) return env;
  std::map<std::string, std::string> vars(env.vars().begin(), env.vars().end());
  if (!flags.endpoint_url.empty()) {
    vars["AWS_ENDPOINT_URL_S3"] = flags.endpoint_url;
    vars.erase("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  }
  if (!flags.region.empty()) vars["AWS_REGION"] = flags.region;
  if (!flags.addressing_style.empty()) vars["AWS_S3_ADDRESSING_STYLE"] = flags.addressing_style;
  if (!flags.profile.empty()) {
    vars["AWS_PROFILE"] = flags.profile;
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "AWS_SECURITY_TOKEN"}) {
      vars.erase(name);
    }
  }
  return core::Environment(vars);
}

core::Result<storage::S3Config> LoadS3Config(const CliContext& ctx, const S3Flags& local) {
  const S3Flags flags = MergeS3Flags(ctx.s3, local);
  storage::S3Overrides ov;
  ov.endpoint_url = flags.endpoint_url;
  ov.region = flags.region;
  ov.profile = flags.profile;
  if (!flags.addressing_style.empty()) {
    SDXL_ASSIGN_OR_RETURN(ov.addressing_style,
                          storage::ParseAddressingStyle(flags.addressing_style));
  }
  return storage::S3Config::Load(ctx.env, ov);
}

core::Status NameCredentialSource(const core::Status& status, const storage::S3Config& config) {
  const std::string& code = status.service_code();
  if (code != "InvalidAccessKeyId" && code != "SignatureDoesNotMatch" && code != "ExpiredToken" &&
      code != "InvalidToken") {
    return status;
  }
  const std::string source =
      config.credentials_source.empty() ? "an unknown source" : config.credentials_source;
  // Only the key id's last 4 characters, as `aws configure list` shows it.
  const std::string& id = config.credentials.access_key_id;
  const std::string masked = id.size() > 4 ? "****" + id.substr(id.size() - 4) : "****";
  return core::Status(status.code(),
                      status.message() + " [access key " + masked + " from " + source + "]",
                      status.retryable())
      .WithHttp(status.http_status(), status.service_code());
}

int ReportS3Status(const core::Status& status, const storage::S3Config& config) {
  return ReportStatus(NameCredentialSource(status, config));
}

core::Result<S3Url> ParseS3Url(std::string_view text, std::string_view what) {
  if (!text.starts_with("s3://")) {
    return core::InvalidArgument(std::string(what) + " \"" + std::string(text) +
                                 "\" must be an s3://BUCKET[/KEY] URL");
  }
  std::string_view rest = text.substr(5);
  const size_t slash = rest.find('/');
  S3Url url{std::string(rest.substr(0, slash)),
            slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1))};
  if (url.bucket.empty()) {
    return core::InvalidArgument(std::string(what) + " \"" + std::string(text) +
                                 "\" names no bucket; write s3://BUCKET[/KEY]");
  }
  return url;
}

std::string FolderPrefix(std::string_view key) {
  std::string prefix(key);
  if (!prefix.empty() && !prefix.ends_with('/')) prefix.push_back('/');
  return prefix;
}

bool LsMatches(std::string_view key, std::string_view object_key) {
  return object_key == key || object_key.starts_with(FolderPrefix(key));
}

core::Result<std::unique_ptr<storage::ObjectStore>> OpenBucket(const storage::S3Config& config,
                                                               const std::string& bucket) {
  return storage::OpenObjectStore("s3://" + bucket, config);
}

core::Result<std::uint64_t> ParseByteSize(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) {
    return core::InvalidArgument("size \"" + std::string(text) + "\" must be a number like 16MiB");
  }
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::uint64_t mult = 1;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    mult = 1024;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    mult = 1024 * 1024;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    mult = 1024ull * 1024 * 1024;
  } else {
    return core::InvalidArgument("size \"" + std::string(text) +
                                 "\" has an unknown unit; use KiB, MiB or GiB");
  }
  return value * mult;
}

core::Result<storage::TransferOptions> MakeTransferOptions(const TransferFlags& flags) {
  storage::TransferOptions o;
  if (flags.concurrency > 0) o.concurrency = flags.concurrency;
  if (!flags.part_size.empty()) {
    SDXL_ASSIGN_OR_RETURN(std::uint64_t part, ParseByteSize(flags.part_size));
    if (part < 5 * storage::kMiB || part > 5ull * 1024 * storage::kMiB) {
      return core::InvalidArgument("--part-size must be between 5MiB and 5GiB");
    }
    o.part_size = part;
    o.range_size = part;
    o.multipart_threshold = part;
  }
  return o;
}

const std::atomic<bool>* InstallCancelOnSignal() {
  struct sigaction sa {};
  sa.sa_handler = &OnCancelSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return &g_cancel_requested;
}

}  // namespace sdxl::cli
