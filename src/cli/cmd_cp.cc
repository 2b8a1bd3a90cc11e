// `sdxl-tigris cp SRC DST [--recursive]`: local -> s3 and s3 -> local, one file or a whole prefix,
// with the parallel transfer engine. Ctrl-C/SIGTERM stops it: temporary files are deleted, open
// multipart uploads aborted, and it exits 130; a final name never holds partial data.
// `-` as SRC reads standard input (a multipart upload of unknown length, cp_stream.h); as DST it
// writes the object to standard output. --dryrun prints the "(dryrun) upload: A to B" lines of
// what would be copied and copies nothing. --exclude/--include (with --recursive) pick files or
// objects by their path below the source (filter_flags.h). What is copied comes from copy_plan.h,
// shared with mv and sync.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/copy_plan.h"
#include "cli/cp_stream.h"
#include "cli/filter_flags.h"
#include "cli/s3_flags.h"
#include "core/progress.h"
#include "storage/transfer.h"

namespace sdxl::cli {
namespace {

struct CpArgs {
  std::string src;
  std::string dst;
  bool recursive = false;
  bool dryrun = false;
  S3Flags s3;
  TransferFlags transfer;
  FilterFlags filters;
};

// --dryrun of `cp - s3://...`: no source to check.
int DryRunStdin(const S3Url& url) {
  std::printf("(dryrun) upload: - to %s\n", S3Display(url.bucket, url.key).c_str());
  return kExitOk;
}

// `cp - s3://...` and `cp s3://... -`.
int RunStream(const CpArgs& args, const CliContext& ctx, storage::ObjectStore& store,
              const S3Url& url, const storage::S3Config& config, storage::TransferOptions opts) {
  const bool upload = args.src == "-";
  if (upload && (url.key.empty() || url.key.ends_with('/'))) {
    return ReportUsage("cp - s3://BUCKET/KEY needs a KEY to write stdin to");
  }
  core::ProgressBar bar(upload ? "upload" : "download", 0,
                        !ctx.quiet && core::ProgressBar::StderrIsTerminal());
  opts.on_progress = [&bar](std::uint64_t n) { bar.Add(n); };
  opts.cancel = InstallCancelOnSignal();
  auto stats = upload ? UploadStream(store, url.key, STDIN_FILENO, opts)
                      : DownloadStream(store, url.key, STDOUT_FILENO, opts);
  bar.Finish();
  if (!stats.ok()) return ReportS3Status(stats.status(), config);
  // stdout may be the data: the summary goes to stderr.
  if (!ctx.quiet) {
    std::fprintf(stderr, "%s: %s -> %s (%s%s in %.2fs)\n", upload ? "upload" : "download",
                 args.src.c_str(), args.dst.c_str(),
                 core::FormatBytes(static_cast<double>(stats->bytes)).c_str(),
                 stats->parts > 0 ? (", " + std::to_string(stats->parts) + " parts").c_str() : "",
                 stats->seconds);
  }
  return kExitOk;
}

int RunCp(const CpArgs& args, const CliContext& ctx) {
  const bool src_s3 = args.src.starts_with("s3://");
  const bool stream = args.src == "-" || args.dst == "-";
  if (stream && args.recursive) {
    return ReportUsage("cp - (stdin/stdout) copies one object; leave out --recursive");
  }
  const std::string usage =
      CopyUsageError("cp", args.src, args.dst, args.recursive, !args.filters.filter.empty());
  if (!usage.empty()) return ReportUsage(usage);
  auto url = ParseS3Url(src_s3 ? args.src : args.dst, src_s3 ? "source" : "destination");
  if (!url.ok()) return ReportUsage(url.status());
  auto opts = MakeTransferOptions(args.transfer);
  if (!opts.ok()) return ReportUsage(opts.status());
  if (args.src == "-" && (url->key.empty() || url->key.ends_with('/'))) {
    return ReportUsage("cp - s3://BUCKET/KEY needs a KEY to write stdin to");
  }
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  auto store = OpenBucket(*config, url->bucket);
  if (!store.ok()) return ReportStatus(store.status());
  if (args.dryrun && args.src == "-") return DryRunStdin(*url);
  if (stream && !args.dryrun) return RunStream(args, ctx, **store, *url, *config, *opts);

  CopyRequest request;
  request.src = args.src;
  request.dst = args.dst;
  request.url = *url;
  request.recursive = args.recursive;
  request.filter = &args.filters.filter;
  auto plan = PlanCopy(**store, request);
  if (!plan.ok()) return ReportS3Status(plan.status(), *config);
  if (args.dryrun) {
    for (const auto& item : plan->items) {
      std::printf("(dryrun) %s: %s to %s\n", plan->upload ? "upload" : "download",
                  item.from.c_str(), item.to.c_str());
    }
    return kExitOk;
  }
  auto stats = RunCopyPlan(**store, *plan, *opts, ctx.quiet);
  if (!stats.ok()) return ReportS3Status(stats.status(), *config);
  if (!ctx.quiet) {
    const std::string what = args.recursive
                                 ? args.src + " -> " + args.dst
                                 : plan->items.front().from + " -> " + plan->items.front().to;
    const double rate = stats->seconds > 0 ? static_cast<double>(stats->bytes) / stats->seconds : 0;
    std::printf("%s: %s (%llu object%s, %s in %.2fs, %s/s)\n", plan->upload ? "upload" : "download",
                what.c_str(), static_cast<unsigned long long>(stats->objects),
                stats->objects == 1 ? "" : "s",
                core::FormatBytes(static_cast<double>(stats->bytes)).c_str(), stats->seconds,
                core::FormatBytes(rate).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddCpCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "cp",
      "Copy files to or from S3: cp SRC DST [--recursive [--exclude P] [--include P]] [--dryrun] "
      "(one side is s3://BUCKET/KEY; - is stdin or stdout)");
  auto args = std::make_shared<CpArgs>();
  cmd->add_option("source", args->src, "local path, s3://BUCKET/KEY, or - for standard input")
      ->required();
  cmd->add_option("destination", args->dst, "local path, s3://BUCKET/KEY, or - for standard output")
      ->required();
  cmd->add_flag("-r,--recursive", args->recursive, "Copy a whole directory or prefix");
  cmd->add_flag("--dryrun", args->dryrun, "Print what would be copied; copy nothing");
  AddFilterFlags(cmd, &args->filters);
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, cmd, &ctx] {
    ApplyFilterFlags(*cmd, &args->filters);
    *run = [args, &ctx] { return RunCp(*args, ctx); };
  });
}

}  // namespace sdxl::cli
