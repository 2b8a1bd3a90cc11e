// `sdxl-tigris mb s3://BUCKET`: creates a bucket (already owning it is fine).
#include <cstdio>

#include "cli/commands.h"
#include "cli/s3_flags.h"

namespace sdxl::cli {

void AddMbCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand("mb", "Create a bucket: mb s3://BUCKET");
  struct Args {
    std::string target;
    S3Flags s3;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("bucket", args->target, "s3://BUCKET")->required();
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] {
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "bucket");
      if (!url.ok()) return ReportUsage(url.status());
      if (!url->key.empty()) return ReportUsage("mb takes s3://BUCKET without a key");
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      auto store = OpenBucket(*config, url->bucket);
      if (!store.ok()) return ReportStatus(store.status());
      core::Status st = (*store)->CreateBucket();
      if (!st.ok()) return ReportStatus(st);
      if (!ctx.quiet) std::printf("make_bucket: s3://%s\n", url->bucket.c_str());
      return 0;
    };
  });
}

}  // namespace sdxl::cli
