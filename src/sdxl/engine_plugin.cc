// The entry point of libsdxl-engine.so: Engine / EnginePipeline (engine.h) over SdxlPipeline,
// plus the two extern "C" symbols the loader looks up. Only those two symbols are exported; every
// C++ exception is caught here and becomes a Status.
#include <torch/cuda.h>
#include <torch/version.h>

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "sdxl/engine.h"
#include "sdxl/pipeline.h"

namespace sdxl::sdxl {
namespace {

// Runs `fn`, turning any exception into an Internal status (nothing may unwind into the binary).
template <typename Fn>
auto Guard(std::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return core::Internal(std::string(what) + " failed: " + e.what());
  } catch (...) {
    return core::Internal(std::string(what) + " failed with an unknown exception");
  }
}

class PipelineAdapter final : public EnginePipeline {
 public:
  explicit PipelineAdapter(SdxlPipeline pipe) : pipe_(std::move(pipe)) {}

  core::Result<GenerateResult> Generate(const GenerateRequest& request) override {
    return Guard("generate", [&] { return pipe_.Generate(request); });
  }
  int default_steps() const override { return pipe_.default_steps(); }
  double default_guidance() const override { return pipe_.default_guidance(); }
  int default_width() const override { return pipe_.default_width(); }
  int default_height() const override { return pipe_.default_height(); }
  int size_multiple() const override { return pipe_.size_multiple(); }
  std::string device_name() const override { return pipe_.device_name(); }
  std::string dtype_name() const override { return pipe_.dtype_name(); }

 private:
  SdxlPipeline pipe_;
};

class TorchEngine final : public Engine {
 public:
  std::string Describe() const override {
    std::string s = "LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                    std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
    try {
      s += ", CUDA devices: " + std::to_string(torch::cuda::device_count());
    } catch (...) {
      s += ", CUDA unavailable";
    }
    return s;
  }

  core::Result<std::unique_ptr<EnginePipeline>> LoadPipeline(
      const std::filesystem::path& model_dir, const PipelineLoadOptions& options) override {
    return Guard("loading the pipeline", [&]() -> core::Result<std::unique_ptr<EnginePipeline>> {
      auto pipe = SdxlPipeline::Load(model_dir, options);
      if (!pipe.ok()) return pipe.status();
      return std::unique_ptr<EnginePipeline>(new PipelineAdapter(std::move(pipe).value()));
    });
  }
};

}  // namespace
}  // namespace sdxl::sdxl

extern "C" {

__attribute__((visibility("default"))) uint64_t sdxl_engine_abi_tag() {
  return sdxl::sdxl::kEngineAbiTag;
}

__attribute__((visibility("default"))) sdxl::sdxl::Engine* sdxl_engine_create(uint64_t abi_tag) {
  if (abi_tag != sdxl::sdxl::kEngineAbiTag) return nullptr;
  try {
    return new sdxl::sdxl::TorchEngine();
  } catch (...) {
    return nullptr;
  }
}

}  // extern "C"

// The loader casts dlsym() results to these types: keep the definitions above in step.
static_assert(std::is_same_v<decltype(&sdxl_engine_abi_tag), sdxl::sdxl::EngineAbiTagFn>);
static_assert(std::is_same_v<decltype(&sdxl_engine_create), sdxl::sdxl::EngineCreateFn>);
