// `sdxl-tigris mv SRC DST [--recursive]`: local -> s3 and s3 -> local, a file or object or, with
// --recursive, a folder or prefix (--exclude/--include pick what). It is cp (copy_plan.h: the
// same listing, transfer engine and atomic local writes) followed by deleting each source, and
// only the sources whose copy succeeded and was checked: for an upload the object is listed
// (or HEADed) and must have the file's size, and the file must still have the size and mtime it
// had when planned; for a download the file must have the object's size (the engine already
// fetched it with If-Match on the listed ETag). A failed or interrupted copy deletes nothing.
// Empty local folders are left in place (as aws s3 mv). --dryrun prints "(dryrun) move: A to B".
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli/commands.h"
#include "cli/copy_plan.h"
#include "cli/filter_flags.h"
#include "cli/s3_flags.h"

namespace sdxl::cli {
namespace {

namespace fs = std::filesystem;

struct MvArgs {
  std::string src;
  std::string dst;
  bool recursive = false;
  bool dryrun = false;
  S3Flags s3;
  TransferFlags transfer;
  FilterFlags filters;
};

// Upload check: the object as the server lists it now has the file's size, and the file is as
// it was planned (it did not change after its upload completed).
core::Status VerifyUploaded(const CopyItem& item, const storage::ObjectInfo* remote) {
  if (remote == nullptr) {
    return core::DataLoss(item.to + " is missing after its upload; " + item.from + " was kept");
  }
  if (remote->size != item.local_size) {
    return core::DataLoss(item.to + " has " + std::to_string(remote->size) + " bytes, " +
                          item.from + " " + std::to_string(item.local_size) + "; it was kept");
  }
  struct stat st {};
  if (::stat(item.local.c_str(), &st) != 0 ||
      static_cast<std::uint64_t>(st.st_size) != item.local_size ||
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec !=
          item.local_mtime_ns) {
    return core::FailedPrecondition(item.from + " changed after it was uploaded; it was kept");
  }
  return core::Status::Ok();
}

// Deletes the local sources whose objects check out. Returns the first failure (after trying
// every item) and the items moved.
core::Status FinishUploads(storage::ObjectStore& store, const CopyPlan& plan, const S3Url& url,
                           bool recursive, std::vector<const CopyItem*>* moved) {
  std::map<std::string, storage::ObjectInfo, std::less<>> remote;
  if (recursive) {
    SDXL_ASSIGN_OR_RETURN(auto listed, storage::ListPrefixObjects(store, FolderPrefix(url.key)));
    for (auto& o : listed) remote.emplace(o.object.key, std::move(o.object));
  } else {
    SDXL_ASSIGN_OR_RETURN(storage::ObjectInfo info, store.Head(plan.items.front().object.key));
    remote.emplace(plan.items.front().object.key, std::move(info));
  }
  core::Status first;
  for (const auto& item : plan.items) {
    const auto it = remote.find(item.object.key);
    core::Status st = VerifyUploaded(item, it == remote.end() ? nullptr : &it->second);
    if (st.ok() && ::unlink(item.local.c_str()) != 0) {
      st = core::ErrnoStatus("copied " + item.from + " to " + item.to + " but cannot delete it",
                             errno);
    }
    if (!st.ok()) {
      if (first.ok()) first = st;
      continue;
    }
    moved->push_back(&item);
  }
  return first;
}

// Deletes the objects whose files check out (one DeleteObjects batch).
core::Status FinishDownloads(storage::ObjectStore& store, const CopyPlan& plan,
                             std::vector<const CopyItem*>* moved) {
  core::Status first;
  std::vector<std::string> keys;
  std::vector<const CopyItem*> verified;
  for (const auto& item : plan.items) {
    struct stat st {};
    if (::stat(item.local.c_str(), &st) != 0 ||
        static_cast<std::uint64_t>(st.st_size) != item.object.size) {
      if (first.ok()) {
        first = core::DataLoss(item.to + " does not have the " + std::to_string(item.object.size) +
                               " bytes of " + item.from + "; the object was kept");
      }
      continue;
    }
    keys.push_back(item.object.key);
    verified.push_back(&item);
  }
  if (!keys.empty()) {
    core::Status st = store.DeleteMany(keys);
    if (!st.ok()) return st;  // which keys went is unknown: report nothing as moved
    moved->insert(moved->end(), verified.begin(), verified.end());
  }
  return first;
}

int RunMv(const MvArgs& args, const CliContext& ctx) {
  if (args.src == "-" || args.dst == "-") {
    return ReportUsage("mv moves files and objects, not standard input or output; use cp -");
  }
  const std::string usage =
      CopyUsageError("mv", args.src, args.dst, args.recursive, !args.filters.filter.empty());
  if (!usage.empty()) return ReportUsage(usage);
  const bool src_s3 = args.src.starts_with("s3://");
  auto url = ParseS3Url(src_s3 ? args.src : args.dst, src_s3 ? "source" : "destination");
  if (!url.ok()) return ReportUsage(url.status());
  auto opts = MakeTransferOptions(args.transfer);
  if (!opts.ok()) return ReportUsage(opts.status());
  auto config = LoadS3Config(ctx, args.s3);
  if (!config.ok()) return ReportStatus(config.status());
  auto store = OpenBucket(*config, url->bucket);
  if (!store.ok()) return ReportStatus(store.status());

  CopyRequest request;
  request.src = args.src;
  request.dst = args.dst;
  request.url = *url;
  request.recursive = args.recursive;
  request.filter = &args.filters.filter;
  request.verb = "move";
  auto plan = PlanCopy(**store, request);
  if (!plan.ok()) return ReportS3Status(plan.status(), *config);
  if (args.dryrun) {
    for (const auto& item : plan->items) {
      std::printf("(dryrun) move: %s to %s\n", item.from.c_str(), item.to.c_str());
    }
    return kExitOk;
  }
  auto stats = RunCopyPlan(**store, *plan, *opts, ctx.quiet);
  if (!stats.ok()) {
    // Nothing was deleted: every source is where it was.
    return ReportS3Status(stats.status(), *config);
  }
  std::vector<const CopyItem*> moved;
  const core::Status st = plan->upload ? FinishUploads(**store, *plan, *url, args.recursive, &moved)
                                       : FinishDownloads(**store, *plan, &moved);
  if (!ctx.quiet) {
    for (const CopyItem* item : moved) {
      std::printf("move: %s to %s\n", item->from.c_str(), item->to.c_str());
    }
  }
  if (!st.ok()) return ReportS3Status(st, *config);
  return kExitOk;
}

}  // namespace

void AddMvCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto* cmd = app.add_subcommand(
      "mv",
      "Move files to or from S3: mv SRC DST [--recursive [--exclude P] [--include P]] [--dryrun] "
      "(cp, then each source is deleted once its copy is checked; a failed copy deletes nothing)");
  auto args = std::make_shared<MvArgs>();
  cmd->add_option("source", args->src, "local path or s3://BUCKET/KEY")->required();
  cmd->add_option("destination", args->dst, "local path or s3://BUCKET/KEY")->required();
  cmd->add_flag("-r,--recursive", args->recursive, "Move a whole directory or prefix");
  cmd->add_flag("--dryrun", args->dryrun, "Print what would be moved; move nothing");
  AddFilterFlags(cmd, &args->filters);
  AddS3Flags(cmd, &args->s3);
  AddTransferFlags(cmd, &args->transfer);
  cmd->callback([run, args, cmd, &ctx] {
    ApplyFilterFlags(*cmd, &args->filters);
    *run = [args, &ctx] { return RunMv(*args, ctx); };
  });
}

}  // namespace sdxl::cli
