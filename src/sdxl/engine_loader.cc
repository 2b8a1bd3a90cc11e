#include "sdxl/engine_loader.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace sdxl::sdxl {
namespace {

namespace fs = std::filesystem;

// What to do when the library is not where it should be. SDXL_ENGINE_BUILT is set by CMake when
// this build makes libsdxl-engine.so (-DSDXL_WITH_TORCH=ON).
std::string MissingHint(const EngineLocation& where) {
  if (where.from_env) {
    return std::string("; point ") + kEngineLibraryEnv + " at a " + kEngineLibraryName +
           " or unset it";
  }
#ifdef SDXL_ENGINE_BUILT
  return std::string("; rebuild it (ninja sdxl_engine) next to sdxl-tigris, or set ") +
         kEngineLibraryEnv + " to its path";
#else
  return std::string(": this build has no LibTorch; rebuild with -DSDXL_WITH_TORCH=ON, or set ") +
         kEngineLibraryEnv + " to a " + kEngineLibraryName;
#endif
}

std::string DlError() {
  const char* e = ::dlerror();
  return e ? e : "unknown dynamic loader error";
}

}  // namespace

EngineLocation LocateEngineLibrary(const core::Environment& env) {
  if (auto p = env.Get(kEngineLibraryEnv)) return {fs::path(*p), true};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {fs::path(kEngineLibraryName), false};  // no /proc: the loader's search path
  return {exe.parent_path() / kEngineLibraryName, false};
}

EngineLibrary::EngineLibrary(fs::path path, void* handle, std::unique_ptr<Engine> engine,
                             double load_seconds)
    : path_(std::move(path)),
      handle_(handle),
      engine_(std::move(engine)),
      load_seconds_(load_seconds) {}

EngineLibrary::~EngineLibrary() = default;

void PrepareEngineEnvironment() { ::setenv("THP_MEM_ALLOC_ENABLE", "1", /*overwrite=*/0); }

core::Result<std::unique_ptr<EngineLibrary>> EngineLibrary::Open(const EngineLocation& where) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string name = where.path.string();
  // A bare file name would make dlopen search LD_LIBRARY_PATH etc.; only the /proc-less fallback
  // of LocateEngineLibrary produces one, so check existence only for real paths.
  if (where.path.has_parent_path()) {
    std::error_code ec;
    if (!fs::exists(where.path, ec)) {
      return core::FailedPrecondition("the SDXL engine library " + name + " does not exist" +
                                      MissingHint(where));
    }
  }
  void* handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return core::FailedPrecondition("cannot load the SDXL engine library " + name + ": " +
                                    DlError() +
                                    " (rebuild it, or reinstall the LibTorch it was built "
                                    "against: `make deps`)");
  }
  ::dlerror();  // clear
  auto abi_tag = reinterpret_cast<EngineAbiTagFn>(::dlsym(handle, kEngineAbiTagSymbol));
  auto create = reinterpret_cast<EngineCreateFn>(::dlsym(handle, kEngineCreateSymbol));
  // On the errors below the library stays loaded: its static constructors have run, and
  // unloading a library that may have pulled in LibTorch is not safe.
  if (abi_tag == nullptr || create == nullptr) {
    return core::FailedPrecondition(name + " is not an sdxl-tigris engine library (no " +
                                    kEngineAbiTagSymbol + "/" + kEngineCreateSymbol + " symbols)" +
                                    MissingHint(where));
  }
  if (const uint64_t tag = abi_tag(); tag != kEngineAbiTag) {
    return core::FailedPrecondition(name + " was built for another sdxl-tigris (engine ABI " +
                                    std::to_string(tag >> 32) + ", this binary needs " +
                                    std::to_string(kEngineAbiVersion) +
                                    (tag >> 32 == kEngineAbiVersion ? ", other layouts" : "") +
                                    "); rebuild the binary and the library from the same tree");
  }
  std::unique_ptr<Engine> engine(create(kEngineAbiTag));
  if (!engine) return core::Internal("the SDXL engine in " + name + " failed to start");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::unique_ptr<EngineLibrary>(
      new EngineLibrary(where.path, handle, std::move(engine), seconds));
}

std::future<core::Result<std::unique_ptr<EngineLibrary>>> EngineLibrary::OpenAsync(
    EngineLocation where) {
  return std::async(std::launch::async, [where = std::move(where)] { return Open(where); });
}

}  // namespace sdxl::sdxl
