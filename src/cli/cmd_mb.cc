// `sdxl-tigris mb s3://BUCKET`: creates a bucket. A bucket that already exists is an error (exit
// 1, as aws s3 mb: BucketAlreadyOwnedByYou) unless --ignore-existing; --dryrun only says what it
// would do.
#include <cstdio>

#include "cli/commands.h"
#include "cli/s3_flags.h"
#include "storage/s3_object_store.h"

namespace sdxl::cli {

void AddMbCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "mb", "Create a bucket: mb s3://BUCKET (exit 1 if it exists, unless --ignore-existing)");
  struct Args {
    std::string target;
    bool ignore_existing = false;
    bool dryrun = false;
    S3Flags s3;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("bucket", args->target, "s3://BUCKET")->required();
  cmd->add_flag("--ignore-existing", args->ignore_existing,
                "A bucket that exists already (and is yours) is success, not an error");
  cmd->add_flag("--dryrun", args->dryrun, "Print what would be done; create nothing");
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] {
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "bucket");
      if (!url.ok()) return ReportUsage(url.status());
      if (!url->key.empty()) return ReportUsage("mb takes s3://BUCKET without a key");
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      const std::string name = "s3://" + url->bucket;
      if (args->dryrun) {
        std::printf("(dryrun) make_bucket: %s\n", name.c_str());
        return kExitOk;
      }
      auto store = storage::S3ObjectStore::Create(*config, url->bucket, "");
      if (!store.ok()) return ReportStatus(store.status());
      // HeadBucket first: servers differ on re-creating a bucket you own (AWS us-east-1 answers
      // 200, others BucketAlreadyOwnedByYou or BucketAlreadyExists).
      auto exists = (*store)->BucketExists();
      if (!exists.ok()) return ReportS3Status(exists.status(), *config);
      if (*exists) {
        if (args->ignore_existing) {
          if (!ctx.quiet) std::printf("make_bucket: %s (already exists)\n", name.c_str());
          return kExitOk;
        }
        return ReportStatus(core::Status(
            core::Code::kAlreadyExists,
            "make_bucket failed: " + name +
                " already exists and is yours (BucketAlreadyOwnedByYou); add --ignore-existing to "
                "accept an existing bucket"));
      }
      core::Status st = (*store)->CreateBucket();
      if (!st.ok()) return ReportS3Status(st, *config);
      if (!ctx.quiet) std::printf("make_bucket: %s\n", name.c_str());
      return kExitOk;
    };
  });
}

}  // namespace sdxl::cli
