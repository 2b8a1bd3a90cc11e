// `sdxl-tigris presign s3://BUCKET/KEY [--expires SECONDS] [--method GET|PUT]`: prints a
// presigned URL (SigV4 query authentication; at most 7 days).
#include <cstdio>

#include "cli/commands.h"
#include "cli/s3_flags.h"

namespace sdxl::cli {

void AddPresignCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand("presign", "Print a presigned URL: presign s3://BUCKET/KEY");
  struct Args {
    std::string target;
    long expires = 3600;
    std::string method = "GET";
    S3Flags s3;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("object", args->target, "s3://BUCKET/KEY")->required();
  cmd->add_option("--expires,--expires-in", args->expires, "Validity in seconds (1..604800)")
      ->check(CLI::Range(1L, 604800L))
      ->capture_default_str();
  cmd->add_option("--method", args->method, "GET or PUT")
      ->check(CLI::IsMember({"GET", "PUT"}, CLI::ignore_case))
      ->capture_default_str();
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] {
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "object");
      if (!url.ok()) return ReportUsage(url.status());
      if (url->key.empty()) return ReportUsage("presign needs s3://BUCKET/KEY");
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      auto store = OpenBucket(*config, url->bucket);
      if (!store.ok()) return ReportStatus(store.status());
      std::string m = args->method;
      for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      auto presigned = (*store)->Presign(
          url->key, m == "PUT" ? storage::PresignMethod::kPut : storage::PresignMethod::kGet,
          std::chrono::seconds(args->expires));
      if (!presigned.ok()) return ReportStatus(presigned.status());
      std::printf("%s\n", presigned->c_str());
      return 0;
    };
  });
}

}  // namespace sdxl::cli
