// `sdxl-tigris version`: prints the version and the optional features: whether the SDXL engine
// library (LibTorch, for `generate`) is there. Checks only that the file exists: no LibTorch load.
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "cli/commands.h"
#include "sdxl/engine_loader.h"

namespace sdxl::cli {

void AddVersionCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand("version", "Print the version and compiled-in features");
  cmd->callback([run, &ctx] {
    *run = [&ctx] {
      std::printf("sdxl-tigris %s\n", SDXL_TIGRIS_VERSION);
      const auto engine = sdxl::LocateEngineLibrary(ctx.env);
      std::error_code ec;
      if (std::filesystem::is_regular_file(engine.path, ec)) {
        std::printf("features: torch (engine: %s)\n", engine.path.c_str());
      } else {
        std::printf("features: (no torch: `generate` unavailable; no engine at %s)\n",
                    engine.path.c_str());
      }
      return 0;
    };
  });
}

}  // namespace sdxl::cli
