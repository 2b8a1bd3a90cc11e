// `sdxl-tigris ls [s3://BUCKET[/KEY]]`:
//   - no location, or `s3://`: the buckets these credentials own, "DATE TIME NAME" (ListBuckets);
//   - `s3://BUCKET[/KEY]`: the object KEY and every object under the folder KEY/ ("models/x" never
//     lists "models/xl/..."; see FolderPrefix in s3_flags.h), one "DATE TIME SIZE KEY" line each
//     as `aws s3 ls --recursive` prints them, sorted by key. Recursive by default (scripts rely
//     on it; -r/--recursive is accepted); --no-recursive gives aws s3 ls's one-level view with
//     "PRE name/" folder lines and names relative to the folder.
// --json prints one JSON object per line instead (see ls_format.h and docs/storage.md).
// Nothing matching a KEY exits 1 (as aws s3 ls); an empty bucket is an empty listing (exit 0).
#include <cstdio>

#include "cli/commands.h"
#include "cli/ls_format.h"
#include "cli/s3_flags.h"
#include "storage/s3_object_store.h"

namespace sdxl::cli {
namespace {

struct LsArgs {
  std::string target;
  bool summarize = false;
  bool recursive = true;
  bool human_readable = false;
  bool json = false;
  S3Flags s3;
};

void Print(const std::string& line) { std::printf("%s\n", line.c_str()); }

int ListBuckets(const LsArgs& args, const CliContext& ctx) {
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  auto buckets = storage::S3ObjectStore::ListBuckets(*config);
  if (!buckets.ok()) return ReportS3Status(buckets.status(), *config);
  for (const auto& b : *buckets) Print(args.json ? BucketJson(b) : BucketLine(b));
  return kExitOk;
}

int RunLs(const LsArgs& args, const CliContext& ctx) {
  if (args.target.empty() || args.target == "s3://") return ListBuckets(args, ctx);
  auto url = ParseS3Url(args.target, "location");
  if (!url.ok()) return ReportUsage(url.status());
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  auto store = OpenBucket(*config, url->bucket);
  if (!store.ok()) return ReportStatus(store.status());
  auto objects = (*store)->List(url->key);
  if (!objects.ok()) return ReportS3Status(objects.status(), *config);
  std::vector<storage::ObjectInfo> matched;
  for (auto& o : *objects) {
    if (LsMatches(url->key, o.key)) matched.push_back(std::move(o));
  }
  std::vector<LsRow> rows;
  if (args.recursive) {
    rows = RecursiveRows(matched);
  } else {
    const std::string folder = FolderPrefix(url->key);
    rows = OneLevelRows(matched, folder);
    // The object named exactly KEY (not in the folder KEY/): shown by its own name, first.
    if (!matched.empty() && matched.front().key == url->key && !url->key.empty() &&
        !url->key.ends_with('/')) {
      const auto& o = matched.front();
      const size_t slash = o.key.rfind('/');
      rows.insert(rows.begin(), LsRow{slash == std::string::npos ? o.key : o.key.substr(slash + 1),
                                      o.key, false, o.size, o.last_modified, o.etag});
    }
  }
  std::uint64_t total = 0;
  std::size_t count = 0;
  for (const auto& row : rows) {
    Print(args.json ? LsJson(row) : LsLine(row, args.human_readable));
    if (!row.prefix) {
      total += row.size;
      ++count;
    }
  }
  if (args.summarize) {
    Print(args.json ? SummaryJson(count, total) : SummaryText(count, total, args.human_readable));
  }
  if (matched.empty() && !url->key.empty()) {
    return ReportStatus(core::NotFound("no object s3://" + url->bucket + "/" + url->key +
                                       " and nothing under s3://" + url->bucket + "/" +
                                       FolderPrefix(url->key)));
  }
  return kExitOk;
}

}  // namespace

void AddLsCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "ls",
      "List buckets (ls, ls s3://) or objects: ls s3://BUCKET[/KEY] (the object KEY and all "
      "under KEY/, recursive; --no-recursive for one level with PRE folder lines)");
  auto args = std::make_shared<LsArgs>();
  cmd->add_option("location", args->target, "s3://BUCKET[/KEY]; none (or s3://) lists the buckets");
  cmd->add_flag("-r,--recursive,!--no-recursive", args->recursive,
                "Every object under the folder (the default); --no-recursive: one level, with "
                "\"PRE name/\" lines for folders, as aws s3 ls without --recursive");
  cmd->add_flag("--summarize", args->summarize, "Print the object count and total size at the end");
  cmd->add_flag("-H,--human-readable", args->human_readable, "Sizes in KiB/MiB/GiB");
  cmd->add_flag("--json", args->json,
                "One JSON object per line: {\"key\",\"size\",\"last_modified\",\"etag\"}, "
                "{\"prefix\"} for a folder, {\"bucket\",\"creation_date\"} for a bucket, "
                "{\"total_objects\",\"total_size\"} with --summarize");
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] { *run = [args, &ctx] { return RunLs(*args, ctx); }; });
}

}  // namespace sdxl::cli
