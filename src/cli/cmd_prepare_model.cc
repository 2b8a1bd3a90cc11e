// `sdxl-tigris prepare-model SOURCE BUCKET`: turn a Hugging Face SDXL repo (or a local diffusers
// folder) into a ready-to-serve pipeline under <MODEL_PATH>/ in a bucket, with a manifest, and
// print the environment a deployment needs. Resumable and idempotent (see prepare/prepare.h).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/commands.h"
#include "core/progress.h"
#include "hub/hub_client.h"
#include "prepare/prepare.h"
#include "storage/object_store.h"
#include "storage/s3_config.h"

namespace sdxl::cli {
namespace {

struct PrepareFlags {
  std::string source;
  std::string bucket;
  std::string revision = "main";
  std::string dtype = "bf16";
  std::string model_path;
  int lightning_steps = 4;
  int jobs = 16;
  std::string work_dir;
  std::string endpoint_url;
};

class Opener : public prepare::ModelStoreOpener {
 public:
  explicit Opener(const storage::S3Config& config) : config_(config) {}
  core::Result<std::unique_ptr<storage::ObjectStore>> Open(const std::string& location) override {
    auto loc = storage::ParseLocation(location);
    if (loc.ok() && loc->kind == storage::Location::Kind::kS3) {
      SDXL_RETURN_IF_ERROR(config_.RequireCredentials());
    }
    return storage::OpenObjectStore(location, config_);
  }

 private:
  const storage::S3Config& config_;
};

int Run(const PrepareFlags& f, const CliContext& ctx) {
  // stdout carries only the environment block (`prepare-model ... > deploy.env`): logs to stderr.
  auto level = spdlog::get_level();
  auto logger = spdlog::stderr_color_mt("prepare-model");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  prepare::PrepareOptions o;
  o.source = f.source;
  o.bucket = f.bucket;
  o.revision = f.revision;
  auto dtype = prepare::ParseDTypeChoice(f.dtype);
  if (!dtype.ok()) return ReportStatus(dtype.status());
  o.dtype = *dtype;
  if (!f.model_path.empty()) o.model_path = f.model_path;
  o.lightning_steps = f.lightning_steps;
  o.jobs = f.jobs;
  o.progress = !ctx.quiet;
  if (!f.work_dir.empty()) {
    o.work_dir = f.work_dir;
  } else {
    std::string cache = ctx.env.GetOr("XDG_CACHE_HOME", ctx.env.Home() + "/.cache");
    o.work_dir = std::filesystem::path(cache) / "sdxl-tigris" / "prepare";
  }

  storage::S3Overrides overrides;
  overrides.endpoint_url = f.endpoint_url;
  auto s3 = storage::S3Config::Load(ctx.env, overrides);
  if (!s3.ok()) return ReportStatus(s3.status());
  std::unique_ptr<hub::HubClient> hub;
  if (!prepare::IsLocalSource(f.source)) {
    auto hc = hub::HubConfig::FromEnvironment(ctx.env);
    if (!hc.ok()) return ReportStatus(hc.status());
    hub = std::make_unique<hub::HubClient>(*hc);
  }
  Opener opener(*s3);
  auto r = prepare::PrepareModel(o, hub.get(), opener);
  if (!r.ok()) return ReportStatus(r.status());

  if (r->was_complete) {
    spdlog::info("{} already holds this model ({} files, {}): nothing to upload", r->destination,
                 r->files, core::FormatBytes(static_cast<double>(r->bytes)));
  } else {
    spdlog::info("{}: uploaded {} files ({}), {} already there; manifest written", r->destination,
                 r->files_uploaded, core::FormatBytes(static_cast<double>(r->bytes_uploaded)),
                 r->files_reused);
  }
  // The deployment environment (stdout, so it can be redirected into an env file).
  auto loc = storage::ParseLocation(f.bucket);
  bool local = loc.ok() && loc->kind == storage::Location::Kind::kLocal;
  std::string bucket_name = f.bucket;
  std::string model_path = r->model_path;
  if (loc.ok() && !local) {
    bucket_name = loc->bucket;
    std::string prefix = loc->prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!prefix.empty()) model_path = prefix + "/" + model_path;
  }
  std::printf("# Environment for the deployment (fill in the model runner's keys):\n");
  std::printf("AWS_ACCESS_KEY_ID=<runner access key id>\n");
  std::printf("AWS_SECRET_ACCESS_KEY=<runner secret access key>\n");
  if (!local) {
    std::printf("AWS_ENDPOINT_URL_S3=%s\n", s3->EffectiveEndpoint().c_str());
    std::printf("AWS_REGION=%s\n", s3->region.c_str());
  }
  std::printf("MODEL_BUCKET_NAME=%s\n", bucket_name.c_str());
  std::printf("MODEL_PATH=%s\n", model_path.c_str());
  return 0;
}

}  // namespace

void AddPrepareModelCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto flags = std::make_shared<PrepareFlags>();
  auto* cmd = app.add_subcommand(
      "prepare-model",
      "Prepare an SDXL pipeline from a Hugging Face repo or a local diffusers folder and upload "
      "it to a bucket (resumable; prints the deployment environment)");
  cmd->add_option("SOURCE", flags->source,
                  "Hugging Face repo id (e.g. ByteDance/SDXL-Lightning) or local diffusers folder")
      ->required();
  cmd->add_option("BUCKET", flags->bucket,
                  "Bucket name on the configured endpoint, s3://bucket[/prefix], or a local "
                  "store (path or file://)")
      ->required();
  cmd->add_option("--revision", flags->revision, "Branch, tag or commit of SOURCE")
      ->capture_default_str();
  cmd->add_option("--dtype", flags->dtype, "Weights dtype: bf16, fp16 or keep")
      ->check(CLI::IsMember({"bf16", "fp16", "keep"}))
      ->capture_default_str();
  cmd->add_option("--path", flags->model_path, "MODEL_PATH in the bucket (default: the repo id)");
  cmd->add_option("--lightning-steps", flags->lightning_steps,
                  "SDXL-Lightning UNet to use: 2, 4 or 8 steps")
      ->check(CLI::IsMember({2, 4, 8}))
      ->capture_default_str();
  cmd->add_option("-j,--jobs", flags->jobs, "Parallel transfers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--work-dir", flags->work_dir,
                  "Staging folder for converted files (default ~/.cache/sdxl-tigris/prepare)");
  cmd->add_option("--endpoint-url", flags->endpoint_url,
                  "S3 endpoint (default AWS_ENDPOINT_URL_S3 / AWS config)");
  cmd->callback([flags, &ctx, run] { *run = [flags, &ctx] { return Run(*flags, ctx); }; });
}

}  // namespace sdxl::cli
