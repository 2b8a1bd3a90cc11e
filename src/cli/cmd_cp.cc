// `sdxl-tigris cp SRC DST [--recursive]`: local -> s3 and s3 -> local, one file or a whole prefix,
// with the parallel transfer engine. Ctrl-C/SIGTERM stops it: temporary files are deleted, open
// multipart uploads aborted, and it exits 130; a final name never holds partial data.
// `-` as SRC reads standard input (a multipart upload of unknown length, cp_stream.h); as DST it
// writes the object to standard output. --dryrun prints the "(dryrun) upload: A to B" lines of
// what would be copied and copies nothing.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/cp_stream.h"
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
  bool dryrun = false;
  S3Flags s3;
  TransferFlags transfer;
};

std::string BaseName(std::string_view key) {
  const size_t slash = key.rfind('/');
  return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

// --dryrun: what cp would copy, one "(dryrun) upload|download: A to B" line per object (aws s3
// cp --dryrun). Lists the prefix for a recursive download; writes nothing.
int DryRun(const CpArgs& args, storage::ObjectStore& store, const S3Url& url,
           const storage::S3Config& config) {
  const bool src_s3 = args.src.starts_with("s3://");
  const std::string bucket = "s3://" + url.bucket + "/";
  if (src_s3 && args.recursive) {
    const std::string prefix = FolderPrefix(url.key);
    auto objects = store.List(prefix);
    if (!objects.ok()) return ReportS3Status(objects.status(), config);
    std::size_t n = 0;
    for (const auto& o : *objects) {
      if (o.key.ends_with('/')) continue;
      std::printf("(dryrun) download: %s%s to %s\n", bucket.c_str(), o.key.c_str(),
                  (fs::path(args.dst) / o.key.substr(prefix.size())).string().c_str());
      ++n;
    }
    if (n == 0) {
      return ReportStatus(core::NotFound("nothing to copy: no objects under " + bucket + prefix));
    }
    return kExitOk;
  }
  if (src_s3) {
    auto head = store.Head(url.key);
    if (!head.ok()) return ReportS3Status(head.status(), config);
    std::string dest = args.dst;
    std::error_code ec;
    if (dest != "-" && (dest.ends_with('/') || fs::is_directory(dest, ec))) {
      dest = (fs::path(dest) / BaseName(url.key)).string();
    }
    std::printf("(dryrun) download: %s%s to %s\n", bucket.c_str(), url.key.c_str(), dest.c_str());
    return kExitOk;
  }
  if (args.recursive) {
    const fs::path dir(args.src);
    std::error_code ec;
    std::size_t n = 0;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::printf("(dryrun) upload: %s to %s%s%s\n", it->path().string().c_str(), bucket.c_str(),
                  FolderPrefix(url.key).c_str(),
                  it->path().lexically_relative(dir).generic_string().c_str());
      ++n;
    }
    if (ec) return ReportStatus(core::ErrnoStatus("cannot list " + args.src, ec.value()));
    if (n == 0) return ReportStatus(core::NotFound(args.src + " holds no files to upload"));
    return kExitOk;
  }
  std::string key = url.key;
  if (key.empty() || key.ends_with('/')) {
    if (args.src == "-") return ReportUsage("cp - s3://BUCKET/KEY needs a KEY to write stdin to");
    key += fs::path(args.src).filename().string();
  }
  std::error_code ec;
  if (args.src != "-" && !fs::is_regular_file(args.src, ec)) {
    return ReportStatus(core::NotFound(args.src + " is not a file"));
  }
  std::printf("(dryrun) upload: %s to %s%s\n", args.src.c_str(), bucket.c_str(), key.c_str());
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
  const bool dst_s3 = args.dst.starts_with("s3://");
  if (src_s3 == dst_s3) {
    return ReportUsage(
        src_s3 ? "cp between two s3:// locations is not supported; download, then upload"
               : "cp needs one s3:// side: cp FILE s3://BUCKET/KEY or cp s3://BUCKET/KEY FILE "
                 "(- for stdin/stdout)");
  }
  const bool stream = args.src == "-" || args.dst == "-";
  if (stream && args.recursive) {
    return ReportUsage("cp - (stdin/stdout) copies one object; leave out --recursive");
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
  if (args.dryrun) return DryRun(args, **store, *url, *config);
  if (stream) return RunStream(args, ctx, **store, *url, *config, *opts);

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
  if (!stats.ok()) return ReportS3Status(stats.status(), *config);
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
      "cp",
      "Copy files to or from S3: cp SRC DST [--recursive] (one side is s3://BUCKET/KEY; - is "
      "stdin or stdout)");
  auto args = std::make_shared<CpArgs>();
  cmd->add_option("source", args->src, "local path, s3://BUCKET/KEY, or - for standard input")
      ->required();
  cmd->add_option("destination", args->dst, "local path, s3://BUCKET/KEY, or - for standard output")
      ->required();
  cmd->add_flag("-r,--recursive", args->recursive, "Copy a whole directory or prefix");
  cmd->add_flag("--dryrun", args->dryrun, "Print what would be copied; copy nothing");
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, &ctx] { *run = [args, &ctx] { return RunCp(*args, ctx); }; });
}

}  // namespace sdxl::cli
