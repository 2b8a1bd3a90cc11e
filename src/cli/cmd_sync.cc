// `sdxl-tigris sync SRC DST`: makes a prefix look like a local folder (DIR -> s3://BUCKET/PREFIX)
// or a folder like a prefix (s3://BUCKET/PREFIX -> DIR), copying only what differs (sync_plan.h:
// size + mtime by default, --size-only, --exact-timestamps) and, with --delete, deleting what the
// source lacks. Both sides are listed once; the copies go through copy_plan.h's RunCopyPlan (the
// transfer engine, atomic local writes, downloads stamped with the object's LastModified), and
// deletes run only after every copy succeeded. --exclude/--include apply to both sides (an
// excluded destination path is never deleted). --dryrun prints the aws s3 lines
// ("(dryrun) upload: A to B", "download:", "delete:") and changes nothing. s3 -> s3 is refused
// (no server-side copy yet).
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/copy_plan.h"
#include "cli/filter_flags.h"
#include "cli/s3_flags.h"
#include "cli/sync_plan.h"

namespace sdxl::cli {
namespace {

namespace fs = std::filesystem;

struct SyncArgs {
  std::string src;
  std::string dst;
  bool delete_extra = false;
  bool dryrun = false;
  bool size_only = false;
  bool exact_timestamps = false;
  S3Flags s3;
  TransferFlags transfer;
  FilterFlags filters;
};

std::int64_t FloorSeconds(std::int64_t ns) {
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

SyncEntry Entry(const storage::LocalFile& f) {
  return {f.relative, f.size, FloorSeconds(f.mtime_ns)};
}
SyncEntry Entry(const storage::PrefixObject& o) {
  return {o.relative, o.object.size, ParseS3Time(o.object.last_modified)};
}

int RunSync(const SyncArgs& args, const CliContext& ctx) {
  if (args.src == "-" || args.dst == "-") {
    return ReportUsage("sync copies folders and prefixes; for standard input or output use cp -");
  }
  const bool src_s3 = args.src.starts_with("s3://");
  const bool dst_s3 = args.dst.starts_with("s3://");
  if (src_s3 && dst_s3) {
    return ReportUsage(
        "sync between two s3:// locations is not supported (no server-side copy yet); sync to a "
        "local folder, then from it");
  }
  if (!src_s3 && !dst_s3) {
    return ReportUsage(
        "sync needs one s3:// side: sync DIR s3://BUCKET/PREFIX or sync s3://BUCKET/PREFIX DIR");
  }
  if (args.size_only && args.exact_timestamps) {
    return ReportUsage("--size-only and --exact-timestamps exclude each other; pick one");
  }
  const bool upload = !src_s3;
  auto url = ParseS3Url(upload ? args.dst : args.src, upload ? "destination" : "source");
  if (!url.ok()) return ReportUsage(url.status());
  auto opts = MakeTransferOptions(args.transfer);
  if (!opts.ok()) return ReportUsage(opts.status());
  const fs::path local(upload ? args.src : args.dst);
  std::error_code ec;
  const bool local_exists = fs::exists(local, ec);
  if (local_exists && !fs::is_directory(local, ec)) {
    return ReportUsage((upload ? args.src : args.dst) +
                       " is a file; sync works on folders (cp copies one file)");
  }
  if (upload && !local_exists) {
    return ReportStatus(core::NotFound(args.src + " does not exist; sync uploads a folder"));
  }
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  auto store = OpenBucket(*config, url->bucket);
  if (!store.ok()) return ReportStatus(store.status());

  // Both listings, filtered alike.
  const std::string prefix = FolderPrefix(url->key);
  auto remote = storage::ListPrefixObjects(**store, prefix);
  if (!remote.ok()) return ReportS3Status(remote.status(), *config);
  if (!upload && remote->empty()) {
    // An empty or mistyped prefix would make --delete empty the folder: say so instead.
    return ReportStatus(core::NotFound("nothing to sync: no objects under " +
                                       S3Display(url->bucket, prefix) + " (ls shows what exists)"));
  }
  std::vector<storage::LocalFile> files;
  if (local_exists) {
    auto listed = storage::ListLocalFiles(local);
    if (!listed.ok()) return ReportStatus(listed.status());
    files = SelectFiles(std::move(*listed), args.filters.filter);
  }
  const std::vector<storage::PrefixObject> objects =
      SelectObjects(std::move(*remote), args.filters.filter);
  std::vector<SyncEntry> local_entries;
  std::vector<SyncEntry> remote_entries;
  for (const auto& f : files) local_entries.push_back(Entry(f));
  for (const auto& o : objects) remote_entries.push_back(Entry(o));
  const SyncCompare compare = args.size_only          ? SyncCompare::kSizeOnly
                              : args.exact_timestamps ? SyncCompare::kExactTimestamps
                                                      : SyncCompare::kSizeAndTime;
  const SyncPlan sync = upload ? PlanSync(SyncDirection::kUpload, compare, local_entries,
                                          remote_entries, args.delete_extra)
                               : PlanSync(SyncDirection::kDownload, compare, remote_entries,
                                          local_entries, args.delete_extra);

  // What to copy, in copy_plan's terms; what to delete, as display names and targets.
  CopyPlan copies;
  copies.upload = upload;
  for (std::size_t i : sync.copies) {
    CopyItem item;
    if (upload) {
      const auto& f = files[i];
      item.local = f.path;
      item.object.key = storage::JoinKey(prefix, f.relative);
      item.local_size = f.size;
      item.local_mtime_ns = f.mtime_ns;
      item.from = f.path.string();
      item.to = S3Display(url->bucket, item.object.key);
    } else {
      const auto& o = objects[i];
      item.local = local / o.relative;
      item.object = o.object;
      item.from = S3Display(url->bucket, o.object.key);
      item.to = item.local.string();
    }
    copies.items.push_back(std::move(item));
  }
  std::vector<std::string> delete_keys;   // upload: objects
  std::vector<fs::path> delete_files;     // download: local files
  std::vector<std::string> delete_names;  // for the lines
  for (std::size_t i : sync.deletes) {
    if (upload) {
      delete_keys.push_back(objects[i].object.key);
      delete_names.push_back(S3Display(url->bucket, objects[i].object.key));
    } else {
      delete_files.push_back(files[i].path);
      delete_names.push_back(files[i].path.string());
    }
  }
  const char* verb = upload ? "upload" : "download";
  if (args.dryrun) {
    for (const auto& item : copies.items) {
      std::printf("(dryrun) %s: %s to %s\n", verb, item.from.c_str(), item.to.c_str());
    }
    for (const auto& name : delete_names) std::printf("(dryrun) delete: %s\n", name.c_str());
    return kExitOk;
  }

  if (!copies.items.empty()) {
    auto stats = RunCopyPlan(**store, copies, *opts, ctx.quiet);
    if (!stats.ok()) return ReportS3Status(stats.status(), *config);  // nothing deleted
    if (!ctx.quiet) {
      for (const auto& item : copies.items) {
        std::printf("%s: %s to %s\n", verb, item.from.c_str(), item.to.c_str());
      }
    }
  }
  if (!delete_keys.empty()) {
    core::Status st = (*store)->DeleteMany(delete_keys);
    if (!st.ok()) return ReportS3Status(st, *config);
  }
  for (const auto& file : delete_files) {
    std::error_code rm_ec;
    if (!fs::remove(file, rm_ec) && rm_ec) {
      return ReportStatus(core::ErrnoStatus("cannot delete " + file.string(), rm_ec.value()));
    }
  }
  if (!ctx.quiet) {
    for (const auto& name : delete_names) std::printf("delete: %s\n", name.c_str());
  }
  return kExitOk;
}

}  // namespace

void AddSyncCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "sync",
      "Copy what differs between a folder and a prefix: sync DIR s3://BUCKET/PREFIX or sync "
      "s3://BUCKET/PREFIX DIR [--delete] [--size-only] [--exact-timestamps] [--exclude P] "
      "[--include P] [--dryrun] (a file is copied when its size differs or its source is newer)");
  auto args = std::make_shared<SyncArgs>();
  cmd->add_option("source", args->src, "local folder or s3://BUCKET/PREFIX")->required();
  cmd->add_option("destination", args->dst, "s3://BUCKET/PREFIX or local folder")->required();
  cmd->add_flag("--delete", args->delete_extra,
                "Delete destination files or objects that the source lacks (excluded paths are "
                "kept)");
  cmd->add_flag("--size-only", args->size_only, "Compare sizes only, not modification times");
  cmd->add_flag("--exact-timestamps", args->exact_timestamps,
                "Downloads: also copy same-size objects whose time differs from the file's");
  cmd->add_flag("--dryrun", args->dryrun, "Print what would be copied and deleted; change nothing");
  AddFilterFlags(cmd, &args->filters);
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, cmd, &ctx] {
    ApplyFilterFlags(*cmd, &args->filters);
    *run = [args, &ctx] { return RunSync(*args, ctx); };
  });
}

}  // namespace sdxl::cli
