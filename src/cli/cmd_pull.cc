// `sdxl-tigris pull [s3://BUCKET/PATH] [--cache DIR] [--concurrency N]`: brings a prepared model
// into the local cache (loader/model_cache.h) and prints its folder on stdout, ready for
// `generate --model` or any diffusers loader. Without a URL it pulls MODEL_BUCKET_NAME/MODEL_PATH.
// A rerun reuses every file that still matches; Ctrl-C stops it (exit 130) with nothing partial
// under a final name, and the next run resumes. With --load the engine loads the pipeline while
// it downloads (the weights stream into it, loader/load_model.h), which checks that the model
// loads on this machine and measures the cold start (phase timings on stderr); then a disk too
// small for the cache does not stop it: the weights load without being cached (a warning, and
// the summary counts them). Without --load a full disk is an error up front.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/s3_flags.h"
#include "core/progress.h"
#include "loader/load_model.h"
#include "loader/model_cache.h"
#include "loader/model_ref.h"
#include "sdxl/engine_loader.h"
#include "sdxl/request_shaping.h"

namespace sdxl::cli {
namespace {

struct PullArgs {
  std::string model;
  std::string cache;
  bool no_verify = false;
  bool load = false;
  std::string device = "auto";
  std::string dtype = "auto";
  S3Flags s3;
  TransferFlags transfer;
};

// --load: the pull runs on its own thread while the engine loads the pipeline from it.
int PullAndLoad(const PullArgs& args, const CliContext& ctx, storage::ObjectStore& store,
                const loader::ModelRef& ref, const loader::PullOptions& options,
                core::ProgressBar& bar) {
  sdxl::PipelineLoadOptions lo;
  auto device = sdxl::ParseDevice(args.device);
  if (!device.ok()) return ReportStatus(device.status());
  auto dtype = sdxl::ParseDtype(args.dtype);
  if (!dtype.ok()) return ReportStatus(dtype.status());
  lo.device = *device;
  lo.dtype = *dtype;
  auto engine_future = sdxl::EngineLibrary::OpenAsync(sdxl::LocateEngineLibrary(ctx.env));
  std::unique_ptr<sdxl::EngineLibrary> engine;  // outlives the pipeline
  double engine_open_s = 0;
  const auto get_engine = [&]() -> core::Result<sdxl::Engine*> {
    auto opened = engine_future.get();
    if (!opened.ok()) return opened.status();
    engine = std::move(*opened);
    engine_open_s = engine->load_seconds();
    return &engine->engine();
  };
  std::error_code ec;
  const std::filesystem::path dir =
      std::filesystem::absolute(loader::ModelCacheDir(options.cache_root, ref), ec);
  auto loaded = loader::LoadWhilePulling(
      dir, options, [&](const loader::PullOptions& o) { return loader::PullModel(store, ref, o); },
      get_engine, lo);
  bar.Finish();
  if (!loaded.ok()) return ReportStatus(loaded.status());
  std::printf("%s\n", loaded->pulled.dir.string().c_str());
  std::fflush(stdout);
  if (!ctx.quiet) {
    const auto& s = loaded->pulled.stats;
    const auto& t = loaded->pulled.timings;
    std::string not_cached;
    if (s.files_not_cached > 0) {
      not_cached = ", " + std::to_string(s.files_not_cached) + " of them (" +
                   core::FormatBytes(static_cast<double>(s.bytes_not_cached)) +
                   ") not cached: the disk is full";
    }
    std::string refetched;
    if (loaded->bytes_on_demand > 0) {
      refetched = ", " + core::FormatBytes(static_cast<double>(loaded->bytes_on_demand)) +
                  " read from the bucket on demand (not cached)";
    }
    std::fprintf(stderr,
                 "pull: %s: %d file%s downloaded (%s)%s, %d reused (%s); list %.2f s, plan %.2f "
                 "s, transfer %.2f s (verify %.2f s)\n"
                 "load: engine opened in %.2f s; pipeline on %s (%s) ready %.2f s after the "
                 "load started (overlapping the pull); weights %s streamed from the download, "
                 "%s read from the cache%s; total %.2f s\n",
                 loader::ToUri(ref).c_str(), s.files_downloaded, s.files_downloaded == 1 ? "" : "s",
                 core::FormatBytes(static_cast<double>(s.bytes_downloaded)).c_str(),
                 not_cached.c_str(), s.files_reused,
                 core::FormatBytes(static_cast<double>(s.bytes_reused)).c_str(), t.list_s, t.plan_s,
                 t.transfer_s, t.verify_s, engine_open_s, loaded->pipeline->device_name().c_str(),
                 loaded->pipeline->dtype_name().c_str(), loaded->load_s,
                 core::FormatBytes(static_cast<double>(loaded->bytes_streamed)).c_str(),
                 core::FormatBytes(static_cast<double>(loaded->bytes_from_disk)).c_str(),
                 refetched.c_str(), loaded->total_s);
  }
  return 0;
}

int RunPull(const PullArgs& args, const CliContext& ctx) {
  // stdout carries only the folder (`dir=$(sdxl-tigris pull ...)`): logs go to stderr (main.cc).
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

  if (args.load) return PullAndLoad(args, ctx, **store, *ref, options, bar);
  auto pulled = loader::PullModel(**store, *ref, options);
  bar.Finish();
  if (!pulled.ok()) return ReportS3Status(pulled.status(), *config);
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
  cmd->add_flag("--load", args->load,
                "Also load the pipeline into the SDXL engine while it downloads (the weights "
                "stream into the engine): checks that it loads here and prints the cold-start "
                "timings");
  cmd->add_option("--device", args->device, "With --load: auto, cpu or cuda");
  cmd->add_option("--dtype", args->dtype,
                  "With --load: auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16");
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, &ctx] { *run = [args, &ctx] { return RunPull(*args, ctx); }; });
}

}  // namespace sdxl::cli
