#pragma once
// Registration functions of every subcommand (one per cmd_*.cc). main.cc calls each once.

#include "cli/command.h"

namespace sdxl::cli {

void AddVersionCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddTokenizeCommand(CLI::App& app, CliContext& ctx, Action* run);
// S3 commands (cmd_mb.cc, cmd_ls.cc, cmd_cp.cc, cmd_rm.cc, cmd_mv.cc, cmd_sync.cc, cmd_presign.cc).
void AddMbCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddLsCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddCpCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddRmCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddMvCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddSyncCommand(CLI::App& app, CliContext& ctx, Action* run);
void AddPresignCommand(CLI::App& app, CliContext& ctx, Action* run);
// uploads: incomplete multipart uploads, listed and aborted (cmd_uploads.cc).
void AddUploadsCommand(CLI::App& app, CliContext& ctx, Action* run);
// pull: a model from S3 into the local cache (loader library; cmd_pull.cc).
void AddPullCommand(CLI::App& app, CliContext& ctx, Action* run);
// generate: always present; it loads the engine library (LibTorch) when it runs.
void AddGenerateCommand(CLI::App& app, CliContext& ctx, Action* run);  // cmd_generate.cc
// serve: the Cog-compatible prediction server (serve library).
void AddServeCommand(CLI::App& app, CliContext& ctx, Action* run);  // cmd_serve.cc
#ifdef SDXL_HAVE_PREPARE
void AddPrepareModelCommand(CLI::App& app, CliContext& ctx, Action* run);
#endif

}  // namespace sdxl::cli
