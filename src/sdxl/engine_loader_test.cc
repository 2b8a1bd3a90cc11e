#include "sdxl/engine_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>

namespace sdxl::sdxl {
namespace {

namespace fs = std::filesystem;

EngineLocation At(const fs::path& p) { return {p, true}; }

core::Environment Env(const std::string& name, const std::string& value) {
  return core::Environment(std::map<std::string, std::string>{{name, value}});
}

TEST(LocateEngineLibraryTest, EnvOverridesTheBinaryFolder) {
  auto loc = LocateEngineLibrary(Env("SDXL_ENGINE_LIBRARY", "/opt/x/libe.so"));
  EXPECT_EQ(loc.path, fs::path("/opt/x/libe.so"));
  EXPECT_TRUE(loc.from_env);

  loc = LocateEngineLibrary(Env("SDXL_ENGINE_LIBRARY", ""));  // empty = unset
  EXPECT_FALSE(loc.from_env);
  EXPECT_EQ(loc.path, fs::read_symlink("/proc/self/exe").parent_path() / "libsdxl-engine.so");
}

TEST(EngineLibraryTest, MissingFileSaysWhatToDo) {
  auto lib = EngineLibrary::Open(At("/nonexistent/libsdxl-engine.so"));
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.status().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(lib.status().message().find("/nonexistent/libsdxl-engine.so does not exist"),
            std::string::npos)
      << lib.status().message();
  EXPECT_NE(lib.status().message().find("SDXL_ENGINE_LIBRARY"), std::string::npos);

  lib = EngineLibrary::Open({"/nonexistent/libsdxl-engine.so", false});
  ASSERT_FALSE(lib.ok());
#ifdef SDXL_REAL_ENGINE
  EXPECT_NE(lib.status().message().find("rebuild it"), std::string::npos);
#else
  EXPECT_NE(lib.status().message().find("-DSDXL_WITH_TORCH=ON"), std::string::npos)
      << lib.status().message();
#endif
}

TEST(EngineLibraryTest, BrokenFileReportsTheLoaderError) {
  const fs::path p =
      fs::temp_directory_path() / ("sdxl_broken_engine_" + std::to_string(::getpid()) + ".so");
  std::ofstream(p) << "not an ELF file";
  auto lib = EngineLibrary::Open(At(p));
  std::remove(p.c_str());
  ASSERT_FALSE(lib.ok());
  const std::string& m = lib.status().message();
  EXPECT_NE(m.find("cannot load the SDXL engine library " + p.string() + ": " + p.string()),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);  // one line
}

TEST(EngineLibraryTest, RefusesAForeignLibrary) {
  auto lib = EngineLibrary::Open(At(SDXL_FAKE_ENGINE_NO_SYMBOLS));
  ASSERT_FALSE(lib.ok());
  EXPECT_NE(lib.status().message().find("is not an sdxl-tigris engine library"), std::string::npos)
      << lib.status().message();
}

TEST(EngineLibraryTest, RefusesAStaleAbi) {
  auto lib = EngineLibrary::Open(At(SDXL_FAKE_ENGINE_STALE_ABI));
  ASSERT_FALSE(lib.ok());
  const std::string& m = lib.status().message();
  EXPECT_NE(m.find("engine ABI " + std::to_string(kEngineAbiVersion + 1) + ", this binary needs " +
                   std::to_string(kEngineAbiVersion)),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("rebuild"), std::string::npos);
}

TEST(EngineLibraryTest, LoadsAndRunsAnEngine) {
  auto lib = EngineLibrary::Open(At(SDXL_FAKE_ENGINE_OK));
  ASSERT_TRUE(lib.ok()) << lib.status().message();
  EXPECT_EQ((*lib)->path(), fs::path(SDXL_FAKE_ENGINE_OK));
  EXPECT_GE((*lib)->load_seconds(), 0.0);
  Engine& engine = (*lib)->engine();
  EXPECT_EQ(engine.Describe(), "fake engine");
  EXPECT_EQ(engine.LoadPipeline("", {}).status().code(), core::Code::kNotFound);

  auto pipe = engine.LoadPipeline("model", {});
  ASSERT_TRUE(pipe.ok());
  EXPECT_EQ((*pipe)->device_name(), "fake");
  GenerateRequest req;
  req.prompt = "x";
  int steps_seen = 0;
  req.on_step = [&](int step, int total) {  // a callback from the library into the caller
    steps_seen = step;
    return true;
  };
  auto out = (*pipe)->Generate(req);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->images.size(), 1u);
  EXPECT_EQ(out->images[0].rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(steps_seen, 1);
  req.prompt.clear();
  EXPECT_EQ((*pipe)->Generate(req).status().message(), "empty prompt");
}

TEST(EngineLibraryTest, OpensInTheBackground) {
  auto future = EngineLibrary::OpenAsync(At(SDXL_FAKE_ENGINE_OK));
  auto lib = future.get();
  ASSERT_TRUE(lib.ok()) << lib.status().message();
  EXPECT_EQ((*lib)->engine().Describe(), "fake engine");

  auto missing = EngineLibrary::OpenAsync(At("/nonexistent/libsdxl-engine.so")).get();
  EXPECT_FALSE(missing.ok());
}

#ifdef SDXL_REAL_ENGINE
// The real libsdxl-engine.so: LibTorch loads behind RTLD_LOCAL and stays out of this binary.
TEST(RealEngineTest, LoadsLibTorchPrivately) {
  auto lib = EngineLibrary::Open(At(SDXL_REAL_ENGINE));
  ASSERT_TRUE(lib.ok()) << lib.status().message();
  EXPECT_NE((*lib)->engine().Describe().find("LibTorch "), std::string::npos);

  auto pipe = (*lib)->engine().LoadPipeline("/nonexistent/model", {});
  ASSERT_FALSE(pipe.ok());
  EXPECT_NE(pipe.status().message().find("does not exist"), std::string::npos)
      << pipe.status().message();

  // libtorch_cpu.so exports its own std::filesystem::remove_all, which crashes when a binary that
  // links LibTorch calls it (see clip_text_model_test.cc). Loaded privately, it must not
  // interpose on this binary's calls.
  const fs::path dir =
      fs::temp_directory_path() / ("sdxl_engine_rm_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir / "a" / "b");
  std::ofstream(dir / "a" / "b" / "f") << "x";
  EXPECT_EQ(fs::remove_all(dir), 4u);
  EXPECT_FALSE(fs::exists(dir));
}
#endif

}  // namespace
}  // namespace sdxl::sdxl
