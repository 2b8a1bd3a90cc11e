#pragma once
// How subcommands plug into the `sdxl-tigris` binary.
//
// Each subcommand lives in its own cmd_<name>.cc and exposes one `Add<Name>Command` function that
// declares its flags on the CLI11 app and sets `*run` to the action to execute after parsing.
// Actions return the process exit code; they print one clear line to stderr on failure.
// The CliContext is built once in main and outlives every action.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "core/environment.h"
#include "core/status.h"

namespace sdxl::cli {

// The S3 connection flags (--endpoint-url, --region, --profile, --addressing-style). Empty = not
// given. They are global: accepted before the subcommand (into CliContext::s3) and after it (into
// the subcommand's own copy, which wins); see LoadS3Config in s3_flags.h.
struct S3Flags {
  std::string endpoint_url;
  std::string region;
  std::string profile;
  std::string addressing_style;  // auto|virtual|path

  bool empty() const {
    return endpoint_url.empty() && region.empty() && profile.empty() && addressing_style.empty();
  }
};

struct CliContext {
  core::Environment env;  // the only snapshot of the process environment
  bool quiet = false;     // --quiet: no progress bars or informational output
  bool verbose = false;   // --verbose: debug logging
  S3Flags s3;             // global S3 flags given before the subcommand
};

using Action = std::function<int()>;

// Exit status of the binary (README "Exit status", --help footer).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;        // the command ran and failed
inline constexpr int kExitUsage = 2;          // the command line is wrong; nothing was done
inline constexpr int kExitInterrupted = 130;  // SIGINT/SIGTERM cancelled the work

// Prints "sdxl-tigris: <message>" to stderr and returns the exit code for the status
// (0 for OK, 1 otherwise; 130 for a cancellation).
int ReportStatus(const core::Status& status);
// A usage error (the arguments are wrong, nothing was done): prints one line
// "sdxl-tigris: <message>" and returns 2.
int ReportUsage(std::string_view message);
int ReportUsage(const core::Status& status);

}  // namespace sdxl::cli
