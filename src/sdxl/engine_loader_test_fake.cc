// Torch-free stand-ins for libsdxl-engine.so, built as three modules for engine_loader_test:
//   SDXL_FAKE_ENGINE_OK          a working engine whose pipelines return 2x1 images
//   SDXL_FAKE_ENGINE_STALE_ABI   entry points present, ABI tag of an older build
//   SDXL_FAKE_ENGINE_NO_SYMBOLS  a shared library without the entry points
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "sdxl/engine.h"

#if defined(SDXL_FAKE_ENGINE_OK) || defined(SDXL_FAKE_ENGINE_STALE_ABI)
namespace {

using namespace sdxl::sdxl;
namespace core = sdxl::core;

class FakePipeline final : public EnginePipeline {
 public:
  core::Result<GenerateResult> Generate(const GenerateRequest& request) override {
    if (request.prompt.empty()) return core::InvalidArgument("empty prompt");
    // request.steps steps (default 1), 100 ms each when the prompt starts with "slow" (server
    // tests: busy, cancel, shutdown), one 2x1 image per output.
    const int steps = request.steps.value_or(1);
    const bool slow = request.prompt.rfind("slow", 0) == 0;
    GenerateResult r;
    r.steps = steps;
    for (int i = 1; i <= steps; ++i) {
      if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      r.timings.step_s.push_back(slow ? 0.1 : 0.0);
      if (request.on_step && !request.on_step(i, steps)) return core::Cancelled("cancelled");
    }
    for (int i = 0; i < std::max(1, request.num_outputs); ++i) {
      r.images.push_back({2, 1, {1, 2, 3, 4, 5, 6}});
    }
    return r;
  }
  int default_steps() const override { return 4; }
  double default_guidance() const override { return 0; }
  int default_width() const override { return 64; }
  int default_height() const override { return 64; }
  int size_multiple() const override { return 8; }
  std::string device_name() const override { return "fake"; }
  std::string dtype_name() const override { return "float32"; }
};

class FakeEngine final : public Engine {
 public:
  std::string Describe() const override { return "fake engine"; }
  core::Result<std::unique_ptr<EnginePipeline>> LoadPipeline(const std::filesystem::path& model_dir,
                                                             const PipelineLoadOptions&) override {
    if (model_dir.empty()) return core::NotFound("no model");
    return std::unique_ptr<EnginePipeline>(new FakePipeline());
  }
};

#ifdef SDXL_FAKE_ENGINE_STALE_ABI
constexpr uint64_t kTag = kEngineAbiTag + (uint64_t{1} << 32);  // the next version
#else
constexpr uint64_t kTag = kEngineAbiTag;
#endif

}  // namespace

extern "C" {
__attribute__((visibility("default"))) uint64_t sdxl_engine_abi_tag() { return kTag; }
__attribute__((visibility("default"))) Engine* sdxl_engine_create(uint64_t tag) {
  return tag == kTag ? new FakeEngine() : nullptr;
}
}
#else
extern "C" __attribute__((visibility("default"))) int sdxl_not_an_engine() { return 42; }
#endif
