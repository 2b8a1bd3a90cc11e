// `sdxl-tigris uploads s3://BUCKET[/PREFIX] [--abort] [--older-than AGE] [--dryrun]`: lists the
// incomplete multipart uploads under a prefix, and with --abort aborts those older than AGE.
//
// A writer that is killed (SIGKILL, power loss, an OOM kill) mid-upload cannot abort its multipart
// upload: the parts stay in the bucket, invisible to `ls`, and are billed until aborted (or until a
// bucket lifecycle rule expires them). `cp` and `prepare-model` never leave a partial object under
// a final name, and a rerun completes, so this command is the documented clean-up for what a kill
// leaves behind. --older-than (default 1h) spares uploads that another writer is running now.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

#include "cli/commands.h"
#include "cli/s3_flags.h"
#include "core/iso8601.h"
#include "storage/s3_object_store.h"

namespace sdxl::cli {
namespace {

// "90", "90s", "15m", "1h", "2d" -> seconds; nullopt for anything else.
std::optional<std::int64_t> ParseAge(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr == text.data() || value < 0) return std::nullopt;
  const std::string_view unit(ptr, static_cast<size_t>(end - ptr));
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  } else {
    return std::nullopt;
  }
  if (value > INT64_MAX / scale) return std::nullopt;
  return value * scale;
}

}  // namespace

void AddUploadsCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "uploads",
      "List incomplete multipart uploads under s3://BUCKET[/PREFIX] (what a killed upload leaves "
      "behind); --abort removes those older than --older-than");
  struct Args {
    std::string target;
    bool abort = false;
    std::string older_than = "1h";
    bool dryrun = false;
    S3Flags s3;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("location", args->target, "s3://BUCKET[/PREFIX]")->required();
  cmd->add_flag("--abort", args->abort,
                "Abort the listed uploads older than --older-than (their parts are deleted)");
  cmd->add_option("--older-than", args->older_than,
                  "With --abort: only uploads started at least this long ago (90s, 15m, 1h, 2d; "
                  "0 = all, including uploads running right now)")
      ->capture_default_str();
  cmd->add_flag("--dryrun", args->dryrun,
                "With --abort: print what would be aborted; abort nothing");
  AddS3Flags(cmd, &args->s3);
  cmd->callback([run, args, &ctx] {
    *run = [args, &ctx]() -> int {
      auto url = ParseS3Url(args->target, "location");
      if (!url.ok()) return ReportUsage(url.status());
      const std::optional<std::int64_t> min_age = ParseAge(args->older_than);
      if (!min_age) {
        return ReportUsage("--older-than: \"" + args->older_than +
                           "\" is not an age; use seconds or a number with s, m, h or d (1h)");
      }
      if (args->dryrun && !args->abort) return ReportUsage("--dryrun goes with --abort");
      auto config = LoadS3Config(ctx, args->s3);
      if (!config.ok()) return ReportStatus(config.status());
      auto store = storage::S3ObjectStore::Create(*config, url->bucket, "");
      if (!store.ok()) return ReportStatus(store.status());
      auto uploads = (*store)->ListMultipartUploads(url->key);
      if (!uploads.ok()) return ReportS3Status(uploads.status(), *config);

      const std::time_t now = std::time(nullptr);
      const std::string bucket = "s3://" + url->bucket + "/";
      int failed = 0, aborted = 0, kept = 0;
      for (const auto& u : *uploads) {
        const std::optional<std::time_t> started = core::ParseIso8601Utc(u.initiated);
        // An upload whose start the server did not say is old enough only for --older-than 0.
        const bool old_enough = *min_age == 0 || (started && now - *started >= *min_age);
        if (!args->abort) {
          std::printf("%s  %s  %s%s\n", u.initiated.empty() ? "-" : u.initiated.c_str(),
                      u.upload_id.c_str(), bucket.c_str(), u.key.c_str());
          continue;
        }
        if (!old_enough) {
          ++kept;
          continue;
        }
        if (args->dryrun) {
          std::printf("(dryrun) abort: %s%s (upload %s)\n", bucket.c_str(), u.key.c_str(),
                      u.upload_id.c_str());
          continue;
        }
        core::Status st = (*store)->AbortMultipartUpload(u.key, u.upload_id);
        if (!st.ok()) {
          ReportS3Status(st, *config);
          ++failed;
          continue;
        }
        ++aborted;
        if (!ctx.quiet) {
          std::printf("abort: %s%s (upload %s)\n", bucket.c_str(), u.key.c_str(),
                      u.upload_id.c_str());
        }
      }
      if (args->abort && kept > 0 && !ctx.quiet) {
        std::fprintf(stderr,
                     "sdxl-tigris: kept %d upload(s) started less than %s ago (--older-than); "
                     "they may belong to a writer that is running\n",
                     kept, args->older_than.c_str());
      }
      if (failed > 0) {
        std::fprintf(stderr, "sdxl-tigris: %d of %d upload(s) could not be aborted\n", failed,
                     failed + aborted);
        return kExitFailure;
      }
      return kExitOk;
    };
  });
}

}  // namespace sdxl::cli
