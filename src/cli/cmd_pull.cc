// `sdxl-tigris pull [s3://BUCKET/PATH] [--cache DIR] [--concurrency N]`: brings a prepared model
// into the local cache (loader/model_cache.h) and prints its folder on stdout, ready for
// `generate --model` or any diffusers loader. Without a URL it pulls MODEL_BUCKET_NAME/MODEL_PATH.
// A rerun reuses every file that still matches; Ctrl-C stops it (exit 130) with nothing partial
// under a final name, and the next run resumes.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/s3_flags.h"
#include "core/progress.h"
#include "loader/model_cache.h"
#include "loader/model_ref.h"

namespace sdxl::cli {
namespace {

struct PullArgs {
  std::string model;
  std::string cache;
  bool no_verify = false;
  S3Flags s3;
  TransferFlags transfer;
};

int RunPull(const PullArgs& args, const CliContext& ctx) {
  // stdout carries only the folder (`dir=$(sdxl-tigris pull ...)`): logs go to stderr.
  auto logger = spdlog::stderr_color_mt("pull");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(spdlog::get_level());
  spdlog::set_default_logger(logger);
  auto ref = args.model.empty() ? loader::ModelRefFromEnvironment(ctx.env)
                                : loader::ParseModelRef(args.model);
  if (!ref.ok()) return ReportStatus(ref.status());
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  if (auto st = config->RequireCredentials(); !st.ok()) return ReportStatus(st);
  auto transfer = MakeTransferOptions(args.transfer);
  if (!transfer.ok()) return ReportStatus(transfer.status());
  auto store = OpenBucket(*config, ref->bucket);
  if (!store.ok()) return ReportStatus(store.status());

  loader::PullOptions options;
  options.cache_root =
      args.cache.empty() ? loader::DefaultCacheRoot(ctx.env) : std::filesystem::path(args.cache);
  options.transfer = *transfer;
  options.verify_hashes = !args.no_verify;
  core::ProgressBar bar("pull", 0, !ctx.quiet && core::ProgressBar::StderrIsTerminal());
  options.transfer.on_total = [&bar](std::uint64_t total) { bar.SetTotal(total); };
  options.transfer.on_progress = [&bar](std::uint64_t n) { bar.Add(n); };
  options.transfer.cancel = InstallCancelOnSignal();

  auto pulled = loader::PullModel(**store, *ref, options);
  bar.Finish();
  if (!pulled.ok()) return ReportStatus(pulled.status());
  std::printf("%s\n", pulled->dir.string().c_str());
  std::fflush(stdout);
  if (!ctx.quiet) {
    const auto& s = pulled->stats;
    const auto& t = pulled->timings;
    std::fprintf(stderr,
                 "pull: %s -> %s: %d file%s downloaded (%s), %d reused (%s)%s\n"
                 "pull: list %.2f s, plan %.2f s, transfer %.2f s (verify %.2f s), total %.2f s\n",
                 loader::ToUri(*ref).c_str(), pulled->dir.string().c_str(), s.files_downloaded,
                 s.files_downloaded == 1 ? "" : "s",
                 core::FormatBytes(static_cast<double>(s.bytes_downloaded)).c_str(), s.files_reused,
                 core::FormatBytes(static_cast<double>(s.bytes_reused)).c_str(),
                 pulled->had_manifest ? "" : " [no manifest: checked by size and ETag]", t.list_s,
                 t.plan_s, t.transfer_s, t.verify_s, t.total_s);
  }
  return 0;
}

}  // namespace

void AddPullCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "pull", "Download a model into the local cache (verified, resumable) and print its folder");
  auto args = std::make_shared<PullArgs>();
  cmd->add_option("model", args->model,
                  "s3://BUCKET/PATH of the model (default: s3://$MODEL_BUCKET_NAME/$MODEL_PATH)");
  cmd->add_option(
      "--cache", args->cache,
      "Cache folder (default: $MODEL_CACHE_DIR, else $XDG_CACHE_HOME/sdxl-tigris/models, "
      "else ~/.cache/sdxl-tigris/models)");
  cmd->add_flag("--no-verify", args->no_verify,
                "Skip the SHA-256 checks against the manifest (sizes are still checked)");
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, &ctx] { *run = [args, &ctx] { return RunPull(*args, ctx); }; });
}

}  // namespace sdxl::cli
