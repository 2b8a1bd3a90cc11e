// `sdxl-tigris serve`: the Cog-compatible prediction server (serve/server.h). This file only maps
// flags to ServeConfig; everything else lives in the serve library.
#include <memory>

#include "cli/commands.h"
#include "serve/server.h"

namespace sdxl::cli {

void AddServeCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto c = std::make_shared<serve::ServeConfig>();
  auto* cmd = app.add_subcommand(
      "serve", "Cog-compatible prediction server: loads the model, then answers /predictions");
  cmd->add_option("--host", c->host, "Address to listen on (default 0.0.0.0)");
  auto* port = cmd->add_option("--port", c->port, "Port (default $PORT, else 5000; 0: any free)")
                   ->check(CLI::Range(0, 65535));
  cmd->add_option("--model", c->model,
                  "Diffusers folder or s3://bucket/path (default: s3://$MODEL_BUCKET_NAME/"
                  "$MODEL_PATH)");
  cmd->add_option(
      "--cache", c->cache_dir,
      "Model cache folder (default $MODEL_CACHE_DIR, else ~/.cache/sdxl-tigris/models)");
  cmd->add_option("--device", c->device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--dtype", c->dtype, "auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16")
      ->check(CLI::IsMember({"auto", "fp32", "fp16", "bf16"}));
  cmd->add_option("--variant", c->variant, "Weights variant, e.g. fp16 (*.fp16.safetensors)");
  cmd->add_option("--upload-url", c->upload_url,
                  "Cog's upload URL: PUT each image to URL/<name> and return that URL");
  cmd->add_option("--output-prefix", c->output_prefix,
                  "Key prefix for images in $PUBLIC_BUCKET_NAME (default: none)");
  cmd->add_option("--await-explicit-shutdown", c->await_explicit_shutdown,
                  "true: ignore SIGTERM; stop only on POST /shutdown or SIGINT (as Cog)");
  cmd->add_option("--playground", c->playground,
                  "true (default): serve the web page at /playground; false: 404");
  cmd->add_option("--port-file", c->port_file, "Write the bound port to this file");
  cmd->callback([run, c, port, &ctx] {
    *run = [c, port, &ctx] {
      if (auto st = c->ApplyEnvironment(ctx.env, port->count() > 0); !st.ok()) {
        return ReportStatus(st);
      }
      return serve::RunServer(*c, ctx.env);
    };
  });
}

}  // namespace sdxl::cli
