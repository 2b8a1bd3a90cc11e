#pragma once
// RunServer: `sdxl-tigris serve` end to end. The HTTP listener is up at once (health STARTING);
// setup runs beside it: the engine library opens while the model is resolved (a local folder, or
// s3://bucket/path and MODEL_BUCKET_NAME/MODEL_PATH pulled into the verified cache by the
// loader), then the pipeline loads and the output store is opened (Cog upload URL, else
// PUBLIC_BUCKET_NAME with presigned URLs, else data URLs); then READY. A failed setup leaves the
// server up with SETUP_FAILED and the reason in the setup logs.
// Stops on SIGINT, on SIGTERM (ignored with await_explicit_shutdown, as Cog does) or POST
// /shutdown: new predictions get 503, the running one finishes, queued webhooks are delivered,
// then RunServer returns 0.
// Configuration is read once from the flags and the Environment snapshot (ServeConfig).

#include <chrono>
#include <string>

#include "core/environment.h"
#include "core/status.h"

namespace sdxl::serve {

struct ServeConfig {
  std::string host = "0.0.0.0";
  int port = 5000;        // --port, else $PORT, else 5000; 0 = any free port
  std::string model;      // --model DIR | s3://bucket/path; empty: MODEL_BUCKET_NAME/MODEL_PATH
  std::string cache_dir;  // --cache; empty: MODEL_CACHE_DIR or the XDG cache
  std::string device = "auto", dtype = "auto", variant;
  std::string upload_url;                   // Cog's --upload-url
  std::string output_bucket;                // PUBLIC_BUCKET_NAME
  std::string output_prefix;                // key prefix in the output bucket
  std::chrono::seconds url_expires{3600};   // OUTPUT_URL_EXPIRES
  std::string auth_token;                   // SDXL_API_TOKEN
  std::string webhook_auth_token;           // WEBHOOK_AUTH_TOKEN
  std::chrono::milliseconds throttle{500};  // COG_THROTTLE_RESPONSE_INTERVAL
  bool await_explicit_shutdown = false;
  bool playground = true;   // --playground: the web page at GET /playground (playground.h)
  bool kubernetes = false;  // KUBERNETES_SERVICE_HOST set: touch /var/run/cog/ready when ready
  std::string port_file;    // --port-file: write the bound port there (tests, port 0)
  std::string version = "0.1.0";

  // Fills what the flags left unset from the environment; InvalidArgument for bad values.
  [[nodiscard]] core::Status ApplyEnvironment(const core::Environment& env, bool port_given);
};

// Serves until a stop; returns the process exit code.
int RunServer(const ServeConfig& config, const core::Environment& env);

}  // namespace sdxl::serve
