#pragma once
// Engine / EnginePipeline: the torch-free interface of the SDXL engine shared library
// (libsdxl-engine.so, built from sdxl_torch + engine_plugin.cc with -DSDXL_WITH_TORCH=ON).
//
// The sdxl-tigris binary does not link LibTorch: `generate` (and the server) open the library at
// run time with EngineLibrary (engine_loader.h) and talk to it only through these two abstract
// classes and the plain structs of pipeline.h. Rules for whatever crosses the boundary:
//  - both sides are built from the same tree with the same compiler and standard library (the
//    loader checks kEngineAbiTag); bump kEngineAbiVersion when these classes change;
//  - no exceptions cross it: the library catches everything and returns a Status;
//  - objects created by the library (Engine, EnginePipeline) are destroyed through their virtual
//    destructors, i.e. by the library's code.
// Thread-safety: as SdxlPipeline (one Generate at a time per pipeline).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/status.h"
#include "sdxl/pipeline.h"

namespace sdxl::sdxl {

// A loaded SDXL pipeline (an SdxlPipeline inside the library).
class EnginePipeline {
 public:
  virtual ~EnginePipeline() = default;

  [[nodiscard]] virtual core::Result<GenerateResult> Generate(const GenerateRequest& request) = 0;
  // Same meaning as the SdxlPipeline accessors.
  virtual int default_steps() const = 0;
  virtual double default_guidance() const = 0;
  virtual int default_width() const = 0;
  virtual int default_height() const = 0;
  virtual int size_multiple() const = 0;
  virtual std::string device_name() const = 0;
  virtual std::string dtype_name() const = 0;
};

// The library's entry object: loads pipelines. Thread-safe (LoadPipeline may run concurrently).
class Engine {
 public:
  virtual ~Engine() = default;

  // One line for logs, e.g. "LibTorch 2.11.0, CUDA devices: 0".
  virtual std::string Describe() const = 0;
  // SdxlPipeline::Load behind the boundary; the caller owns the pipeline.
  [[nodiscard]] virtual core::Result<std::unique_ptr<EnginePipeline>> LoadPipeline(
      const std::filesystem::path& model_dir, const PipelineLoadOptions& options) = 0;
};

// Bump when Engine, EnginePipeline or the pipeline.h structs change.
// 2: PipelineLoadOptions::wait_for_component (component-by-component loading).
// 3: PipelineLoadOptions::weights (weights/weight_source.h: weights streamed into the engine)
//    replaces wait_for_component.
inline constexpr uint32_t kEngineAbiVersion = 3;

// The version plus a fingerprint of the layouts that cross the boundary and of the C++ library
// ABI, so that a library built from other headers is refused instead of crashing.
inline constexpr uint64_t kEngineAbiTag =
    (uint64_t{kEngineAbiVersion} << 32) ^
    ((sizeof(PipelineLoadOptions) * 131 + sizeof(GenerateRequest) * 31 + sizeof(GenerateResult) +
      sizeof(core::Status) * 7 + sizeof(std::string) * 1009
#ifdef _GLIBCXX_USE_CXX11_ABI
      + _GLIBCXX_USE_CXX11_ABI * 65536
#endif
      ) &
     0xffffffffu);

// Entry points every engine library exports (extern "C", default visibility):
//   uint64_t sdxl_engine_abi_tag(void);
//       kEngineAbiTag as the library was built.
//   sdxl::sdxl::Engine* sdxl_engine_create(uint64_t abi_tag);
//       A new Engine (caller owns; delete it), or nullptr when abi_tag differs from the library's
//       or the engine cannot start.
inline constexpr char kEngineAbiTagSymbol[] = "sdxl_engine_abi_tag";
inline constexpr char kEngineCreateSymbol[] = "sdxl_engine_create";
using EngineAbiTagFn = uint64_t (*)();
using EngineCreateFn = Engine* (*)(uint64_t);

}  // namespace sdxl::sdxl
