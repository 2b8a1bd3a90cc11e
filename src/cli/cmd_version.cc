// `sdxl-tigris version`: prints the version and the optional features compiled in.
#include <cstdio>

#include "cli/commands.h"

namespace sdxl::cli {

void AddVersionCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand("version", "Print the version and compiled-in features");
  cmd->callback([run] {
    *run = [] {
      std::printf("sdxl-tigris %s\n", SDXL_TIGRIS_VERSION);
#ifdef SDXL_HAVE_TORCH
      std::printf("features: torch\n");
#else
      std::printf("features: (no torch: `generate` unavailable)\n");
#endif
      return 0;
    };
  });
}

}  // namespace sdxl::cli
