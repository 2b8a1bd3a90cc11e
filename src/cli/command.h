#pragma once
// How subcommands plug into the `sdxl-tigris` binary.
//
// Each subcommand lives in its own cmd_<name>.cc and exposes one `Add<Name>Command` function that
// declares its flags on the CLI11 app and sets `*run` to the action to execute after parsing.
// Actions return the process exit code; they print one clear line to stderr on failure.
// The CliContext is built once in main and outlives every action.

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>

#include "core/environment.h"
#include "core/status.h"

namespace sdxl::cli {

struct CliContext {
  core::Environment env;  // the only snapshot of the process environment
  bool quiet = false;     // --quiet: no progress bars or informational output
  bool verbose = false;   // --verbose: debug logging
};

using Action = std::function<int()>;

// Exit status of the binary (README "Exit status", --help footer).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // the command ran and failed
inline constexpr int kExitUsage = 2;         // the command line is wrong; nothing was done
inline constexpr int kExitInterrupted = 130; // SIGINT/SIGTERM cancelled the work

// Prints "sdxl-tigris: <message>" to stderr and returns the exit code for the status
// (0 for OK, 1 otherwise; 130 for a cancellation).
int ReportStatus(const core::Status& status);
// A usage error (the arguments are wrong, nothing was done): prints one line
// "sdxl-tigris: <message>" and returns 2.
int ReportUsage(std::string_view message);
int ReportUsage(const core::Status& status);

}  // namespace sdxl::cli
