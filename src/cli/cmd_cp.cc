// `sdxl-tigris cp SRC DST [--recursive]`: local -> s3 and s3 -> local, one file or a whole prefix,
// with the parallel transfer engine. Ctrl-C/SIGTERM stops it: temporary files are deleted, open
// multipart uploads aborted, and it exits 130; a final name never holds partial data.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/s3_flags.h"
#include "core/progress.h"
#include "storage/transfer.h"

namespace sdxl::cli {
namespace {

namespace fs = std::filesystem;

struct CpArgs {
  std::string src;
  std::string dst;
  bool recursive = false;
  S3Flags s3;
  TransferFlags transfer;
};

std::string BaseName(std::string_view key) {
  const size_t slash = key.rfind('/');
  return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

int RunCp(const CpArgs& args, const CliContext& ctx) {
  const bool src_s3 = args.src.starts_with("s3://");
  const bool dst_s3 = args.dst.starts_with("s3://");
  if (src_s3 == dst_s3) {
    return ReportUsage(
        src_s3 ? "cp between two s3:// locations is not supported; download, then upload"
               : "cp needs one s3:// side: cp FILE s3://BUCKET/KEY or cp s3://BUCKET/KEY FILE");
  }
  auto url = ParseS3Url(src_s3 ? args.src : args.dst, src_s3 ? "source" : "destination");
  if (!url.ok()) return ReportUsage(url.status());
  auto opts = MakeTransferOptions(args.transfer);
  if (!opts.ok()) return ReportUsage(opts.status());
  if (src_s3 && !args.recursive && (url->key.empty() || url->key.ends_with('/'))) {
    return ReportUsage(args.src +
                       " is a bucket or prefix; add --recursive to copy everything under it");
  }
  std::error_code dir_ec;
  if (!src_s3 && !args.recursive && fs::is_directory(fs::path(args.src), dir_ec)) {
    return ReportUsage(args.src + " is a directory; add --recursive to upload it");
  }
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  auto store = OpenBucket(*config, url->bucket);
  if (!store.ok()) return ReportStatus(store.status());

  core::ProgressBar bar(src_s3 ? "download" : "upload", 0,
                        !ctx.quiet && core::ProgressBar::StderrIsTerminal());
  opts->on_total = [&bar](std::uint64_t total) { bar.SetTotal(total); };
  opts->on_progress = [&bar](std::uint64_t n) { bar.Add(n); };
  opts->cancel = InstallCancelOnSignal();

  core::Result<storage::TransferStats> stats = core::Internal("unreachable");
  std::string what;
  if (src_s3) {
    fs::path dest(args.dst);
    if (args.recursive) {
      stats = storage::DownloadPrefix(**store, FolderPrefix(url->key), dest, *opts);
      what = args.src + " -> " + dest.string();
    } else {
      std::error_code ec;
      if (args.dst.ends_with('/') || fs::is_directory(dest, ec)) dest /= BaseName(url->key);
      stats = storage::DownloadFile(**store, url->key, dest, *opts);
      what = args.src + " -> " + dest.string();
    }
  } else {
    const fs::path source(args.src);
    if (args.recursive) {
      stats = storage::UploadDirectory(**store, source, FolderPrefix(url->key), *opts);
    } else {
      std::string key = url->key;
      if (key.empty() || key.ends_with('/')) key += source.filename().string();
      stats = storage::UploadFile(**store, source, key, *opts);
      what = args.src + " -> s3://" + url->bucket + "/" + key;
    }
    if (what.empty()) what = args.src + " -> " + args.dst;
  }
  bar.Finish();
  if (!stats.ok()) return ReportStatus(stats.status());
  if (!ctx.quiet) {
    const double rate = stats->seconds > 0 ? static_cast<double>(stats->bytes) / stats->seconds : 0;
    std::printf("%s: %s (%llu object%s, %s in %.2fs, %s/s)\n", src_s3 ? "download" : "upload",
                what.c_str(), static_cast<unsigned long long>(stats->objects),
                stats->objects == 1 ? "" : "s",
                core::FormatBytes(static_cast<double>(stats->bytes)).c_str(), stats->seconds,
                core::FormatBytes(rate).c_str());
  }
  return 0;
}

}  // namespace

void AddCpCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "cp", "Copy files to or from S3: cp SRC DST [--recursive] (one side is s3://BUCKET/KEY)");
  auto args = std::make_shared<CpArgs>();
  cmd->add_option("source", args->src, "local path or s3://BUCKET/KEY")->required();
  cmd->add_option("destination", args->dst, "local path or s3://BUCKET/KEY")->required();
  cmd->add_flag("-r,--recursive", args->recursive, "Copy a whole directory or prefix");
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, &ctx] { *run = [args, &ctx] { return RunCp(*args, ctx); }; });
}

}  // namespace sdxl::cli
