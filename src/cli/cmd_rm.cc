// `sdxl-tigris rm s3://BUCKET/KEY [--recursive]`: deletes an object, or with --recursive every
// object under the folder KEY/ (batched DeleteObjects; the prefix rule of ls and cp, see
// FolderPrefix in s3_flags.h). A recursive rm that matches nothing exits 1 and says so. --dryrun
// prints the "(dryrun) delete: ..." lines and deletes nothing. --exclude/--include (with
// --recursive) pick objects by their key relative to the prefix (filter_flags.h).
#include <cstdio>

#include "cli/commands.h"
#include "cli/filter_flags.h"
#include "cli/s3_flags.h"

namespace sdxl::cli {

void AddRmCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand("rm",
                                 "Delete objects: rm s3://BUCKET/KEY [--recursive [--exclude P] "
                                 "[--include P]] [--dryrun]");
  struct Args {
    std::string target;
    bool recursive = false;
    bool dryrun = false;
    S3Flags s3;
    FilterFlags filters;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("location", args->target, "s3://BUCKET/KEY (or prefix with --recursive)")
      ->required();
  cmd->add_flag("-r,--recursive", args->recursive, "Delete every object under the prefix");
  cmd->add_flag("--dryrun", args->dryrun, "Print what would be deleted; delete nothing");
  AddFilterFlags(cmd, &args->filters);
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, cmd, &ctx] {
    ApplyFilterFlags(*cmd, &args->filters);
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "location");
      if (!url.ok()) return ReportUsage(url.status());
      if (url->key.empty() && !args->recursive) {
        return ReportUsage("rm needs s3://BUCKET/KEY; to empty a bucket or prefix add --recursive");
      }
      if (!args->filters.filter.empty() && !args->recursive) {
        return ReportUsage("--exclude/--include select objects under a prefix; add --recursive");
      }
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      auto store = OpenBucket(*config, url->bucket);
      if (!store.ok()) return ReportStatus(store.status());
      const char* done = args->dryrun ? "(dryrun) delete" : "delete";
      if (!args->recursive) {
        if (!args->dryrun) {
          core::Status st = (*store)->Delete(url->key);
          if (!st.ok()) return ReportS3Status(st, *config);
        }
        if (!ctx.quiet || args->dryrun) {
          std::printf("%s: s3://%s/%s\n", done, url->bucket.c_str(), url->key.c_str());
        }
        return 0;
      }
      // A prefix names a folder: rm -r s3://b/models/x must not touch models/xl/.
      const std::string prefix = FolderPrefix(url->key);
      auto objects = (*store)->List(prefix);
      if (!objects.ok()) return ReportS3Status(objects.status(), *config);
      std::vector<std::string> keys;
      for (const auto& o : *objects) {
        // Filters see the key below the prefix, as cp, mv and sync do.
        if (!args->filters.filter.Includes(std::string_view(o.key).substr(prefix.size()))) continue;
        keys.push_back(o.key);
      }
      if (keys.empty()) {
        return ReportStatus(core::NotFound(
            "nothing to delete: no objects under s3://" + url->bucket + "/" + prefix +
            (objects->empty() ? " (ls shows what exists)"
                              : FilteredOutNote(args->filters.filter, objects->size()))));
      }
      if (!args->dryrun) {
        core::Status st = (*store)->DeleteMany(keys);
        if (!st.ok()) return ReportS3Status(st, *config);
      }
      if (!ctx.quiet || args->dryrun) {
        for (const auto& k : keys)
          std::printf("%s: s3://%s/%s\n", done, url->bucket.c_str(), k.c_str());
      }
      return 0;
    };
  });
}

}  // namespace sdxl::cli
