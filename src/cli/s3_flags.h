#pragma once
// Shared plumbing of the S3 subcommands (mb, ls, cp, rm, presign): the connection flags every one
// of them takes, resolving S3Config from the environment plus those flags, opening a bucket-rooted
// store for an s3:// URL, and the SIGINT/SIGTERM flag that cancels transfers.

#include <atomic>
#include <memory>
#include <string>

#include "cli/command.h"
#include "storage/object_store.h"
#include "storage/s3_config.h"
#include "storage/transfer.h"

namespace sdxl::cli {

struct TransferFlags {
  int concurrency = 0;    // 0: storage default
  std::string part_size;  // "16MiB", "8M", "1048576"; empty: default
};

void AddS3Flags(CLI::App* cmd, S3Flags* flags);
void AddTransferFlags(CLI::App* cmd, TransferFlags* flags);

// The subcommand's flags over the global ones (ctx.s3) over the environment and AWS files.
core::Result<storage::S3Config> LoadS3Config(const CliContext& ctx, const S3Flags& flags);
// The global flags a subcommand did not override.
S3Flags MergeS3Flags(const S3Flags& global, const S3Flags& local);
// For commands that resolve S3 settings from the environment themselves (generate, serve): the
// environment with the global flags written as the variables they stand for (AWS_ENDPOINT_URL_S3,
// AWS_REGION, AWS_S3_ADDRESSING_STYLE; --profile sets AWS_PROFILE and drops the AWS_ACCESS_KEY_ID
// family so that the profile's keys are used, as --profile does for the S3 commands).
core::Environment ApplyS3FlagsToEnvironment(const core::Environment& env, const S3Flags& flags);

// ReportStatus for a failure of an S3 request: when the server refused the keys themselves
// (InvalidAccessKeyId, SignatureDoesNotMatch, an expired or invalid token), the message also says
// where they came from (the profile and its file, or the environment variables).
int ReportS3Status(const core::Status& status, const storage::S3Config& config);
core::Status NameCredentialSource(const core::Status& status, const storage::S3Config& config);

// "s3://bucket/key" -> {bucket, key}; anything else is an error naming `what`.
struct S3Url {
  std::string bucket;
  std::string key;
};
core::Result<S3Url> ParseS3Url(std::string_view text, std::string_view what);

// The one prefix rule of `ls`, `cp --recursive` and `rm --recursive` (aws s3's rule for
// recursive commands): the key part of s3://BUCKET/KEY names a folder, never the start of a name.
// FolderPrefix("models/x") == "models/x/" (never "models/xl/..."); "" and "models/" unchanged.
std::string FolderPrefix(std::string_view key);
// What `ls s3://BUCKET/KEY` shows: the object named exactly KEY and everything under
// FolderPrefix(KEY).
bool LsMatches(std::string_view key, std::string_view object_key);

// A store rooted at the bucket (keys are full keys).
core::Result<std::unique_ptr<storage::ObjectStore>> OpenBucket(const storage::S3Config& config,
                                                               const std::string& bucket);

core::Result<storage::TransferOptions> MakeTransferOptions(const TransferFlags& flags);
// "16MiB" / "16M" / "16m" / "1G" / "4096" -> bytes.
core::Result<std::uint64_t> ParseByteSize(std::string_view text);

// Installs SIGINT/SIGTERM handlers that set the returned flag (a second signal kills at once).
const std::atomic<bool>* InstallCancelOnSignal();

}  // namespace sdxl::cli
