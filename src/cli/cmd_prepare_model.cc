// `sdxl-tigris prepare-model SOURCE BUCKET`: turn a Hugging Face SDXL repo (or a local diffusers
// folder) into a ready-to-serve pipeline under <MODEL_PATH>/ in a bucket, with a manifest, and
// print the environment a deployment needs. Resumable and idempotent (see prepare/prepare.h).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "cli/commands.h"
#include "cli/s3_flags.h"
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
  S3Flags s3;  // --endpoint-url, --region, --profile, --addressing-style (also global)
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

// One NAME=VALUE line of the environment block; values are IsEnvSafe (checked by the caller).
void PrintEnv(const char* name, const std::string& value) {
  std::printf("%s=%s\n", name, value.c_str());
}

// The deployment environment on stdout, so `prepare-model ... > deploy.env` works. The same text
// is valid for `set -a; . ./deploy.env; set +a` (sh), `docker run --env-file`, `fly secrets
// import` and dotenv readers (`sky launch --env-file`): comments start in column 0, values are
// unquoted and IsEnvSafe, and the keys to fill in are present with empty values.
int PrintEnvironment(const storage::Location& dest, const prepare::PrepareResult& r,
                     const storage::S3Config& s3) {  // values checked by CheckEnvironmentValues
  if (dest.kind == storage::Location::Kind::kLocal) {
    const std::string dir = r.destination.substr(std::string_view("file://").size());
    std::printf(
        "# The model is in a local store, not a bucket: MODEL_BUCKET_NAME/MODEL_PATH do "
        "not apply.\n");
    std::printf("# Use it with: sdxl-tigris serve --model %s (or generate --model %s)\n",
                dir.c_str(), dir.c_str());
    return kExitOk;
  }
  std::string model_path = r.model_path;
  std::string prefix = dest.prefix;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty()) model_path = prefix + "/" + model_path;
  const std::string endpoint = s3.EffectiveEndpoint();
  std::printf(
      "# Deployment environment from sdxl-tigris prepare-model. Use it with `set -a; . ./FILE; "
      "set +a`,\n"
      "# `docker run --env-file FILE`, `fly secrets import < FILE` or `sky launch --env-file "
      "FILE`.\n"
      "# Fill in the two empty values: the access key id and secret of the key the server runs "
      "with\n"
      "# (read access to this bucket is enough; see deploy/iam/model-runner.json).\n");
  PrintEnv("AWS_ACCESS_KEY_ID", "");
  PrintEnv("AWS_SECRET_ACCESS_KEY", "");
  PrintEnv("AWS_ENDPOINT_URL_S3", endpoint);
  PrintEnv("AWS_REGION", s3.region);
  PrintEnv("MODEL_BUCKET_NAME", dest.bucket);
  PrintEnv("MODEL_PATH", model_path);
  return kExitOk;
}

// Every value of the environment block must be writable unquoted (prepare::IsEnvSafe): checked
// before any work, so a bad endpoint or prefix is not found out after a long upload.
core::Status CheckEnvironmentValues(const storage::Location& dest, const storage::S3Config& s3) {
  if (dest.kind == storage::Location::Kind::kLocal) return core::Status::Ok();
  std::string prefix = dest.prefix;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::pair<const char*, std::string> values[] = {
      {"endpoint", s3.EffectiveEndpoint()}, {"region", s3.region}, {"bucket", dest.bucket}};
  for (const auto& [what, value] : values) {
    if (!prepare::IsEnvSafe(value)) {
      return core::InvalidArgument(std::string("the ") + what + " '" + value +
                                   "' cannot be written into the deployment environment "
                                   "unquoted; use letters, digits and _ . / : @ % + , = - only");
    }
  }
  if (!prefix.empty() && !prepare::IsEnvSafe(prefix)) {
    return core::InvalidArgument("the prefix '" + prefix +
                                 "' cannot be part of MODEL_PATH: use letters, digits and "
                                 "_ . / - only");
  }
  return core::Status::Ok();
}

int Run(const PrepareFlags& f, const CliContext& ctx) {
  // stdout carries only the environment block (`prepare-model ... > deploy.env`): logs go to
  // stderr (main.cc).
  // BUCKET: a bare name is a bucket, even when a folder of that name is here.
  auto dest = prepare::ParseDestination(f.bucket);
  if (!dest.ok()) return ReportUsage(dest.status());
  if (dest->kind == storage::Location::Kind::kS3 && f.bucket.find("://") == std::string::npos) {
    std::error_code ec;
    if (std::filesystem::exists(f.bucket, ec)) {
      spdlog::warn("'{}' means the bucket {} (write ./{} for the local folder of that name)",
                   f.bucket, f.bucket, f.bucket);
    }
  }
  prepare::PrepareOptions o;
  o.source = f.source;
  o.bucket = f.bucket;
  o.revision = f.revision;
  auto dtype = prepare::ParseDTypeChoice(f.dtype);
  if (!dtype.ok()) return ReportUsage(dtype.status());
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

  auto s3 = LoadS3Config(ctx, f.s3);
  if (!s3.ok()) return ReportStatus(s3.status());
  if (auto st = CheckEnvironmentValues(*dest, *s3); !st.ok()) return ReportUsage(st);
  std::unique_ptr<hub::HubClient> hub;
  if (!prepare::IsLocalSource(f.source)) {
    auto hc = hub::HubConfig::FromEnvironment(ctx.env);
    if (!hc.ok()) return ReportStatus(hc.status());
    hub = std::make_unique<hub::HubClient>(*hc);
  }
  Opener opener(*s3);
  auto r = prepare::PrepareModel(o, hub.get(), opener);
  if (!r.ok()) return ReportS3Status(r.status(), *s3);

  if (r->was_complete) {
    spdlog::info("{} already holds this model ({} files, {}): nothing to upload", r->destination,
                 r->files, core::FormatBytes(static_cast<double>(r->bytes)));
  } else {
    spdlog::info("{}: uploaded {} files ({}), {} already there; manifest written", r->destination,
                 r->files_uploaded, core::FormatBytes(static_cast<double>(r->bytes_uploaded)),
                 r->files_reused);
  }
  return PrintEnvironment(*dest, *r, *s3);
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
                  "Bucket name on the configured endpoint (always a bucket, even if a folder of "
                  "that name exists), s3://bucket[/prefix], or a local store written as a path "
                  "(./DIR, /DIR) or file://DIR")
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
  AddS3Flags(cmd, &flags->s3);
  cmd->callback([flags, &ctx, run] { *run = [flags, &ctx] { return Run(*flags, ctx); }; });
}

}  // namespace sdxl::cli
