// `sdxl-tigris ls s3://BUCKET[/PREFIX]`: every object under the prefix (recursive), one per line:
// "<size in bytes> <key>", sorted by key.
#include <cinttypes>
#include <cstdio>

#include "cli/commands.h"
#include "cli/s3_flags.h"

namespace sdxl::cli {

void AddLsCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand("ls", "List objects (recursive): ls s3://BUCKET[/PREFIX]");
  struct Args {
    std::string target;
    bool summarize = false;
    S3Flags s3;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("location", args->target, "s3://BUCKET[/PREFIX]")->required();
  cmd->add_flag("--summarize", args->summarize, "Print the object count and total size at the end");
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] {
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "location");
      if (!url.ok()) return ReportStatus(url.status());
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      auto store = OpenBucket(*config, url->bucket);
      if (!store.ok()) return ReportStatus(store.status());
      auto objects = (*store)->List(url->key);
      if (!objects.ok()) return ReportStatus(objects.status());
      std::uint64_t total = 0;
      for (const auto& o : *objects) {
        std::printf("%12" PRIu64 "  %s\n", o.size, o.key.c_str());
        total += o.size;
      }
      if (args->summarize) {
        std::printf("Total Objects: %zu\nTotal Size: %" PRIu64 "\n", objects->size(), total);
      }
      return 0;
    };
  });
}

}  // namespace sdxl::cli
