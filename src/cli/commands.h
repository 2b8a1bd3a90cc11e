#pragma once
// Registration functions of every subcommand (one per cmd_*.cc). main.cc calls each once.

#include "cli/command.h"

namespace sdxl::cli {

void AddVersionCommand(CLI::App& app, CliContext& ctx, Action* run);

}  // namespace sdxl::cli
