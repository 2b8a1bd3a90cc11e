// The `sdxl-tigris` binary: a thin dispatcher over the libraries' subcommands.
//
// Exit status (kept by every subcommand, documented in --help and the README):
//   0 success, 1 failure, 2 usage error (unknown command or flag, missing or malformed argument),
//   130 interrupted (SIGINT/SIGTERM while a cancellable transfer runs).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/s3_flags.h"
#include "sdxl/engine_loader.h"

namespace sdxl::cli {

namespace {

constexpr const char* kExitStatusHelp =
    "Exit status: 0 success, 1 failure, 2 usage error (unknown command or flag, missing or "
    "malformed argument), 130 interrupted (Ctrl-C).";

std::vector<std::string> CommandNames(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Global flags that take a value (`--profile NAME`): their value is not the command word.
bool TakesValue(std::string_view arg) {
  for (std::string_view name : {"--endpoint-url", "--region", "--profile", "--addressing-style"}) {
    if (arg == name) return true;
  }
  return false;
}

// The subcommand named on the command line: the first argument that is neither a global flag nor
// the value of one. Empty when there is none.
std::string FindCommandWord(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (TakesValue(arg)) {
      ++i;
      continue;
    }
    if (!arg.empty() && arg.front() == '-') continue;
    return std::string(arg);
  }
  return "";
}

bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help" || arg == "--help-all") return true;
  }
  return false;
}

}  // namespace
}  // namespace sdxl::cli

int main(int argc, char** argv) {
  using namespace sdxl::cli;
  sdxl::sdxl::PrepareEngineEnvironment();  // before any thread starts
  CliContext ctx;
  ctx.env = sdxl::core::Environment::FromProcess();

  CLI::App app{"sdxl-tigris: SDXL serving with weights in S3-compatible object storage",
               "sdxl-tigris"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand
  app.footer(kExitStatusHelp);
  app.add_flag("-q,--quiet", ctx.quiet, "No progress bars or informational output");
  app.add_flag("-v,--verbose", ctx.verbose, "Debug logging");
  // The S3 connection flags are global too: `sdxl-tigris --profile p ls s3://b` and
  // `sdxl-tigris ls s3://b --profile p` are the same (a value after the subcommand wins).
  AddS3Flags(&app, &ctx.s3);

  Action run;
  AddVersionCommand(app, ctx, &run);
  AddGenerateCommand(app, ctx, &run);
  AddServeCommand(app, ctx, &run);
  AddTokenizeCommand(app, ctx, &run);
  AddMbCommand(app, ctx, &run);
  AddLsCommand(app, ctx, &run);
  AddCpCommand(app, ctx, &run);
  AddRmCommand(app, ctx, &run);
  AddMvCommand(app, ctx, &run);
  AddSyncCommand(app, ctx, &run);
  AddPresignCommand(app, ctx, &run);
  AddUploadsCommand(app, ctx, &run);
  AddPullCommand(app, ctx, &run);
#ifdef SDXL_HAVE_PREPARE
  AddPrepareModelCommand(app, ctx, &run);
#endif

  // Name the unknown or missing command ourselves: CLI11 would only say "A subcommand is
  // required" or list the extra arguments.
  const std::string word = FindCommandWord(argc, argv);
  const auto names = CommandNames(app);
  if (word.empty() && !AsksForHelp(argc, argv)) {
    return ReportUsage("a command is required: sdxl-tigris COMMAND ... (commands: " + Join(names) +
                       "; see sdxl-tigris --help)");
  }
  if (!word.empty() && std::find(names.begin(), names.end(), word) == names.end()) {
    return ReportUsage("unknown command '" + word + "' (commands: " + Join(names) +
                       "; see sdxl-tigris --help)");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help and friends: print, exit 0
    const std::string help =
        word.empty() ? "sdxl-tigris --help" : "sdxl-tigris " + word + " --help";
    return ReportUsage(std::string(e.what()) + " (see " + help + ")");
  }
  // Logs go to stderr for every command: stdout carries only results (a path, an env block, a
  // listing) so that `x=$(sdxl-tigris ...)` and `... > deploy.env` capture nothing else.
  spdlog::set_default_logger(spdlog::stderr_color_mt("sdxl-tigris"));
  spdlog::set_level(ctx.verbose ? spdlog::level::debug
                                : (ctx.quiet ? spdlog::level::warn : spdlog::level::info));
  spdlog::set_pattern("%^%l%$: %v");
  if (!run) return kExitOk;
  // Commands that resolve S3 settings from the environment themselves (generate, serve, ...)
  // see the global flags as the variables they stand for.
  for (const CLI::App* sub : app.get_subcommands()) {
    if (sub->get_option_no_throw("--endpoint-url") == nullptr) {
      ctx.env = ApplyS3FlagsToEnvironment(ctx.env, ctx.s3);
    }
  }
  return run();
}
