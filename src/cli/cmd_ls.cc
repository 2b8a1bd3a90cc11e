// `sdxl-tigris ls s3://BUCKET[/KEY]`: the object KEY and every object under the folder KEY/
// (recursive; "models/x" never lists "models/xl/..."; see FolderPrefix in s3_flags.h), one per
// line: "<size in bytes>  <key>", sorted by key. Nothing matching a KEY exits 1 (as aws s3 ls);
// an empty bucket is an empty listing (exit 0).
#include <cinttypes>
#include <cstdio>

#include "cli/commands.h"
#include "cli/s3_flags.h"

namespace sdxl::cli {

void AddLsCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "ls", "List objects (recursive): ls s3://BUCKET[/KEY] (the object KEY and all under KEY/)");
  struct Args {
    std::string target;
    bool summarize = false;
    bool recursive = false;
    S3Flags s3;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("location", args->target, "s3://BUCKET[/KEY]")->required();
  cmd->add_flag("--summarize", args->summarize, "Print the object count and total size at the end");
  cmd->add_flag("-r,--recursive", args->recursive, "Accepted for aws s3 habits; ls is recursive");
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] {
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "location");
      if (!url.ok()) return ReportUsage(url.status());
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      auto store = OpenBucket(*config, url->bucket);
      if (!store.ok()) return ReportStatus(store.status());
      auto objects = (*store)->List(url->key);
      if (!objects.ok()) return ReportStatus(objects.status());
      std::uint64_t total = 0;
      std::size_t count = 0;
      for (const auto& o : *objects) {
        if (!LsMatches(url->key, o.key)) continue;
        std::printf("%12" PRIu64 "  %s\n", o.size, o.key.c_str());
        total += o.size;
        ++count;
      }
      if (args->summarize) {
        std::printf("Total Objects: %zu\nTotal Size: %" PRIu64 "\n", count, total);
      }
      if (count == 0 && !url->key.empty()) {
        return ReportStatus(core::NotFound("no object s3://" + url->bucket + "/" + url->key +
                                           " and nothing under s3://" + url->bucket + "/" +
                                           FolderPrefix(url->key)));
      }
      return kExitOk;
    };
  });
}

}  // namespace sdxl::cli
