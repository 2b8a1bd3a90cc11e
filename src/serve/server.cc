#include "serve/server.h"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "core/file_util.h"
#include "loader/load_model.h"
#include "loader/model_cache.h"
#include "sdxl/engine_loader.h"
#include "sdxl/request_shaping.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/output_store.h"
#include "serve/prediction_service.h"
#include "serve/sdxl_runner.h"
#include "serve/webhook.h"
#include "storage/object_store.h"
#include "storage/s3_config.h"

namespace sdxl::serve {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <typename T>
bool ParseNumber(const std::string& s, T& out) {
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end;
}

// What setup builds; owned by RunServer and outliving the prediction service.
struct Runtime {
  std::unique_ptr<sdxl::EngineLibrary> engine;
  std::unique_ptr<sdxl::EnginePipeline> pipeline;
  std::unique_ptr<OutputStore> outputs;
};

core::Result<std::unique_ptr<OutputStore>> OpenOutputs(const ServeConfig& c,
                                                       const core::Environment& env) {
  if (!c.upload_url.empty()) return MakeUploadUrlOutputStore(c.upload_url);
  if (c.output_bucket.empty()) return MakeDataUrlOutputStore();
  auto config = storage::S3Config::Load(env, {});
  if (!config.ok()) return config.status();
  if (auto st = config->RequireCredentials(); !st.ok()) {
    return st.Annotate("PUBLIC_BUCKET_NAME is set, so images are uploaded there");
  }
  auto store = storage::OpenObjectStore("s3://" + c.output_bucket, *config);
  if (!store.ok()) return store.status().Annotate("opening the output bucket");
  return MakeBucketOutputStore(std::move(*store), c.output_prefix, c.url_expires);
}

void Log(PredictionService& service, const std::string& line) {
  spdlog::info("setup: {}", line);
  service.AppendSetupLog(line);
}

core::Status Setup(const ServeConfig& c, const core::Environment& env, PredictionService& service,
                   ServeMetrics& metrics, Runtime& rt) {
  const auto t0 = Clock::now();
  // The engine library (LibTorch, CUDA) opens while the weights arrive.
  auto engine_future = sdxl::EngineLibrary::OpenAsync(sdxl::LocateEngineLibrary(env));

  loader::PullOptions pull;
  pull.cache_root = c.cache_dir.empty() ? loader::DefaultCacheRoot(env) : fs::path(c.cache_dir);
  std::atomic<std::uint64_t> total{0}, done{0};
  std::atomic<int> last_decile{0};
  pull.transfer.on_total = [&](std::uint64_t t) { total = t; };
  pull.transfer.on_progress = [&](std::uint64_t n) {
    const std::uint64_t d = done += n;
    const std::uint64_t t = total.load();
    if (t == 0) return;
    const int decile = static_cast<int>(d * 10 / t);
    int prev = last_decile.load();
    while (decile > prev && !last_decile.compare_exchange_weak(prev, decile)) {
    }
    if (decile > prev) {
      Log(service,
          fmt::format("downloading weights: {}% of {:.1f} MiB", decile * 10, t / 1048576.0));
    }
  };
  Log(service, c.model.empty() ? "model: MODEL_BUCKET_NAME/MODEL_PATH" : "model: " + c.model);
  sdxl::PipelineLoadOptions lo;
  auto device = sdxl::ParseDevice(c.device);
  if (!device.ok()) return device.status();
  auto dtype = sdxl::ParseDtype(c.dtype);
  if (!dtype.ok()) return dtype.status();
  lo.device = *device;
  lo.dtype = *dtype;
  lo.variant = c.variant;
  // The pull runs on its own thread; the engine loads each component as soon as its files are
  // in the cache (loader/load_model.h).
  const auto get_engine = [&]() -> core::Result<sdxl::Engine*> {
    auto engine = engine_future.get();
    if (!engine.ok()) return engine.status();
    rt.engine = std::move(*engine);
    metrics.SetSetupPhase("engine_library", rt.engine->load_seconds());
    Log(service, fmt::format("engine {} opened in {:.2f} s", rt.engine->path().string(),
                             rt.engine->load_seconds()));
    return &rt.engine->engine();
  };
  auto loaded = loader::ResolveAndLoad(c.model, env, pull, get_engine, lo);
  if (!loaded.ok()) return loaded.status();
  rt.pipeline = std::move(loaded->pipeline);
  const auto& pulled = loaded->pulled;
  metrics.SetSetupPhase("model_pull", pulled.timings.total_s);
  metrics.SetSetupPhase("pipeline_load", loaded->load_s);
  Log(service,
      fmt::format("model in {} (pull {:.2f} s: {} file(s) / {:.1f} MiB downloaded, {} "
                  "reused{})",
                  pulled.dir.string(), pulled.timings.total_s, pulled.stats.files_downloaded,
                  pulled.stats.bytes_downloaded / 1048576.0, pulled.stats.files_reused,
                  pulled.stats.files_not_cached == 0
                      ? std::string()
                      : fmt::format("; {} file(s) / {:.1f} MiB not cached: the disk is full",
                                    pulled.stats.files_not_cached,
                                    pulled.stats.bytes_not_cached / 1048576.0)));
  Log(service, fmt::format("pipeline loaded on {} ({}) in {:.2f} s (overlapping the pull; "
                           "weights: {:.1f} MiB streamed from the download, {:.1f} MiB read from "
                           "the cache, {:.1f} MiB read from the bucket on demand)",
                           rt.pipeline->device_name(), rt.pipeline->dtype_name(), loaded->load_s,
                           loaded->bytes_streamed / 1048576.0, loaded->bytes_from_disk / 1048576.0,
                           loaded->bytes_on_demand / 1048576.0));

  auto outputs = OpenOutputs(c, env);
  if (!outputs.ok()) return outputs.status();
  rt.outputs = std::move(*outputs);
  Log(service, "outputs: " + rt.outputs->Describe());

  const sdxl::InputDefaults defaults = DefaultsFor(*rt.pipeline);
  service.SetupSucceeded(MakeSdxlRunFn(*rt.pipeline, *rt.outputs, &metrics, defaults), defaults);
  const double total_s = Since(t0);
  metrics.SetSetupPhase("total", total_s);
  Log(service, fmt::format("READY in {:.2f} s (defaults: {} steps, guidance {:g})", total_s,
                           defaults.num_inference_steps, defaults.guidance_scale));
  if (c.kubernetes) {  // Cog's readiness file for Kubernetes probes
    std::error_code ec;
    fs::create_directories("/var/run/cog", ec);
    std::ofstream("/var/run/cog/ready").put('\n');
  }
  return core::Status::Ok();
}

// Waits for a stop request: a signal (blocked in every thread, taken here with sigtimedwait) or
// POST /shutdown.
class StopWaiter {
 public:
  void Request(const char* why) {
    {
      std::lock_guard lock(mu_);
      if (reason_.empty()) reason_ = why;
    }
    cv_.notify_all();
  }
  // Returns the reason. SIGTERM is ignored when `ignore_sigterm`.
  std::string Wait(const sigset_t& signals, bool ignore_sigterm) {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, std::chrono::milliseconds(1), [&] { return !reason_.empty(); })) {
          return reason_;
        }
      }
      timespec ts{0, 200 * 1000 * 1000};
      const int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig == SIGINT) return "SIGINT";
      if (sig == SIGTERM) {
        if (!ignore_sigterm) return "SIGTERM";
        spdlog::info("SIGTERM ignored (--await-explicit-shutdown); POST /shutdown or SIGINT stops");
      }
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string reason_;
};

}  // namespace

core::Status ServeConfig::ApplyEnvironment(const core::Environment& env, bool port_given) {
  if (!port_given) {
    if (auto p = env.Get("PORT")) {
      if (!ParseNumber(*p, port) || port < 0 || port > 65535) {
        return core::InvalidArgument("PORT=" + *p + " is not a port number (0..65535)");
      }
    }
  }
  if (output_bucket.empty()) output_bucket = env.GetOr("PUBLIC_BUCKET_NAME", "");
  if (auto v = env.Get("OUTPUT_URL_EXPIRES")) {
    long long s = 0;
    if (!ParseNumber(*v, s) || s < 1 || s > 7 * 24 * 3600) {
      return core::InvalidArgument("OUTPUT_URL_EXPIRES=" + *v +
                                   " must be seconds between 1 and 604800 (7 days)");
    }
    url_expires = std::chrono::seconds(s);
  }
  if (auth_token.empty()) auth_token = env.GetOr("SDXL_API_TOKEN", "");
  webhook_auth_token = env.GetOr("WEBHOOK_AUTH_TOKEN", "");
  if (auto v = env.Get("COG_THROTTLE_RESPONSE_INTERVAL")) {
    char* end = nullptr;
    const double s = std::strtod(v->c_str(), &end);
    if (end == v->c_str() || *end != '\0' || s < 0) {
      return core::InvalidArgument("COG_THROTTLE_RESPONSE_INTERVAL=" + *v +
                                   " must be a number of seconds");
    }
    throttle = std::chrono::milliseconds(static_cast<long long>(s * 1000));
  }
  kubernetes = env.Get("KUBERNETES_SERVICE_HOST").has_value();
  return core::Status::Ok();
}

int RunServer(const ServeConfig& c, const core::Environment& env) {
  // Signals are taken by the stop waiter only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Runtime runtime;  // destroyed after the service below (its worker uses the pipeline)
  ServeMetrics metrics;
  WebhookOptions wo;
  wo.throttle = c.throttle;
  wo.auth_token = c.webhook_auth_token;
  wo.user_agent = "sdxl-tigris/" + c.version;
  WebhookSender webhooks(wo);
  PredictionService service(c.version);
  service.AddObserver(&metrics);
  service.AddObserver(&webhooks);

  StopWaiter stop;
  HttpServerOptions ho;
  ho.host = c.host;
  ho.port = c.port;
  ho.auth_token = c.auth_token;
  ho.version = c.version;
  ho.playground = c.playground;
  ho.on_shutdown_request = [&stop] { stop.Request("POST /shutdown"); };
  HttpServer http(service, metrics, ho);
  if (auto st = http.Start(); !st.ok()) {
    spdlog::error("{}", st.message());
    return 1;
  }
  spdlog::info("listening on http://{}:{} (health: STARTING){}", c.host, http.port(),
               c.auth_token.empty() ? "" : "; bearer token required");
  if (c.playground) spdlog::info("playground: http://{}:{}/playground", c.host, http.port());
  if (!c.port_file.empty()) {
    const core::Status st =
        core::WriteFileAtomically(c.port_file, std::to_string(http.port()) + "\n");
    if (!st.ok()) spdlog::warn("cannot write the port file: {}", st.message());
  }

  std::atomic<bool> setup_done{false};
  std::thread setup([&] {
    core::Status st;
    try {
      st = Setup(c, env, service, metrics, runtime);
    } catch (const std::exception& e) {
      st = core::Internal(std::string("setup failed unexpectedly: ") + e.what());
    }
    if (!st.ok()) {
      spdlog::error("setup failed: {}", st.message());
      service.SetupFailed("setup failed: " + st.message());
    }
    setup_done = true;
  });

  const std::string why = stop.Wait(signals, c.await_explicit_shutdown);
  spdlog::info("{}: stopping; the running prediction (if any) finishes first", why);
  service.BeginShutdown();
  while (!service.WaitIdle(std::chrono::seconds(5))) {
    spdlog::info("waiting for the running prediction to finish");
  }
  http.Stop();
  if (!webhooks.Flush(std::chrono::seconds(30))) {
    spdlog::warn("webhooks still undelivered after 30 s; stopping anyway");
  }
  if (!setup_done) {
    // Setup is still downloading or loading: nothing to finish, and LibTorch cannot be
    // interrupted safely mid-load.
    spdlog::info("stopped during setup");
    std::fflush(nullptr);
    std::_Exit(0);
  }
  setup.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sdxl::serve
