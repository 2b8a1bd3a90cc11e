// The `sdxl-tigris` binary: a thin dispatcher over the libraries' subcommands.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/commands.h"

namespace sdxl::cli {

int ReportStatus(const core::Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "sdxl-tigris: %s\n", status.message().c_str());
  return status.code() == core::Code::kCancelled ? 130 : 1;
}

}  // namespace sdxl::cli

int main(int argc, char** argv) {
  using namespace sdxl::cli;
  CliContext ctx;
  ctx.env = sdxl::core::Environment::FromProcess();

  CLI::App app{"sdxl-tigris: SDXL serving with weights in S3-compatible object storage",
               "sdxl-tigris"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (-q, -v) may also follow the subcommand
  app.add_flag("-q,--quiet", ctx.quiet, "No progress bars or informational output");
  app.add_flag("-v,--verbose", ctx.verbose, "Debug logging");

  Action run;
  AddVersionCommand(app, ctx, &run);
  AddGenerateCommand(app, ctx, &run);
  AddServeCommand(app, ctx, &run);
  AddTokenizeCommand(app, ctx, &run);
  AddMbCommand(app, ctx, &run);
  AddLsCommand(app, ctx, &run);
  AddCpCommand(app, ctx, &run);
  AddRmCommand(app, ctx, &run);
  AddPresignCommand(app, ctx, &run);
  AddPullCommand(app, ctx, &run);
#ifdef SDXL_HAVE_PREPARE
  AddPrepareModelCommand(app, ctx, &run);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_level(ctx.verbose ? spdlog::level::debug
                                : (ctx.quiet ? spdlog::level::warn : spdlog::level::info));
  spdlog::set_pattern("%^%l%$: %v");
  if (!run) return 0;
  return run();
}
