#pragma once
// EngineLibrary: opens the SDXL engine shared library (libsdxl-engine.so, which links LibTorch)
// at run time, so that sdxl-tigris itself never loads LibTorch: `ls`, `cp` or `prepare-model`
// start in milliseconds and stay small, and only `generate` / `serve` pay for LibTorch.
//
// Where: $SDXL_ENGINE_LIBRARY when set, else libsdxl-engine.so in the folder of the running
// binary (/proc/self/exe), which is where the build puts it. The library is opened with
// dlopen(RTLD_NOW | RTLD_LOCAL): its symbols (and LibTorch's) stay out of the binary's global
// scope, and it is never unloaded (LibTorch cannot be unloaded safely), so objects it made remain
// valid until exit. Open checks the library's ABI tag (engine.h) and turns every failure (missing
// file, unresolved LibTorch, foreign or stale library) into one Status line that says what to do.
//
// OpenAsync starts the load on its own thread so that a caller (the server) can download weights
// meanwhile. Note that dlopen holds the dynamic loader's lock while it runs: another thread's
// dlopen (e.g. name-service modules for a first DNS lookup) waits for it.
// Thread-safety: Open/OpenAsync may be called from any thread; engine() as Engine's.

#include <filesystem>
#include <future>
#include <memory>

#include "core/environment.h"
#include "core/status.h"
#include "sdxl/engine.h"

namespace sdxl::sdxl {

// The library's file name, as the build writes it next to the binary.
inline constexpr char kEngineLibraryName[] = "libsdxl-engine.so";
// The environment variable that overrides where the library is.
inline constexpr char kEngineLibraryEnv[] = "SDXL_ENGINE_LIBRARY";

struct EngineLocation {
  std::filesystem::path path;
  bool from_env = false;  // named by $SDXL_ENGINE_LIBRARY
};

// Where the engine library is expected (no file access besides resolving /proc/self/exe).
EngineLocation LocateEngineLibrary(const core::Environment& env);

// Sets the environment LibTorch reads once, before the engine library is loaded: large CPU
// tensors in 2 MiB pages (THP_MEM_ALLOC_ENABLE=1; c10 reads it at its first allocation), fewer
// page faults when the 13 GB of a float32 SDXL are first written. Back-to-back loads of the
// synthetic SDXL on the 2-core VM: 8.7-9.0 s with it, 10.0 s without (system time 6.8-7.4 s vs
// 8.6 s); a load right after the VM released memory pays ~20 s of host faults either way.
// Values the user set are kept.
// Call at program start, while the process has one thread (setenv is not thread-safe).
void PrepareEngineEnvironment();

class EngineLibrary {
 public:
  // Opens the library at `where` and creates its Engine (takes ~0.5 s with LibTorch+CUDA libs).
  [[nodiscard]] static core::Result<std::unique_ptr<EngineLibrary>> Open(
      const EngineLocation& where);
  // Open on a new thread; get() the future for the result (its destructor waits for it).
  [[nodiscard]] static std::future<core::Result<std::unique_ptr<EngineLibrary>>> OpenAsync(
      EngineLocation where);

  EngineLibrary(const EngineLibrary&) = delete;
  EngineLibrary& operator=(const EngineLibrary&) = delete;
  ~EngineLibrary();  // destroys the Engine; the library stays mapped (see above)

  Engine& engine() { return *engine_; }
  const std::filesystem::path& path() const { return path_; }
  double load_seconds() const { return load_seconds_; }  // time Open took

 private:
  EngineLibrary(std::filesystem::path path, void* handle, std::unique_ptr<Engine> engine,
                double load_seconds);

  std::filesystem::path path_;
  void* handle_;  // dlopen handle; intentionally never dlclose()d
  std::unique_ptr<Engine> engine_;
  double load_seconds_;
};

}  // namespace sdxl::sdxl
