#include "cli/copy_plan.h"

#include <sys/stat.h>

#include <cerrno>

#include "cli/filter_flags.h"
#include "cli/sync_plan.h"
#include "core/progress.h"

namespace sdxl::cli {
namespace {

namespace fs = std::filesystem;

std::string BaseName(std::string_view key) {
  const size_t slash = key.rfind('/');
  return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

core::Result<CopyPlan> PlanUpload(const CopyRequest& r) {
  CopyPlan plan;
  plan.upload = true;
  if (!r.recursive) {
    struct stat st {};
    if (::stat(r.src.c_str(), &st) != 0) return core::ErrnoStatus("cannot read " + r.src, errno);
    if (!S_ISREG(st.st_mode)) return core::NotFound(r.src + " is not a file");
    CopyItem item;
    item.local = r.src;
    item.object.key = r.url.key;
    if (item.object.key.empty() || item.object.key.ends_with('/')) {
      item.object.key += fs::path(r.src).filename().string();
    }
    item.local_size = static_cast<std::uint64_t>(st.st_size);
    item.local_mtime_ns =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    item.from = r.src;
    item.to = S3Display(r.url.bucket, item.object.key);
    plan.items.push_back(std::move(item));
    return plan;
  }
  SDXL_ASSIGN_OR_RETURN(std::vector<storage::LocalFile> listed,
                        storage::ListLocalFiles(fs::path(r.src)));
  const std::size_t n = listed.size();
  const core::PathFilter none;
  std::vector<storage::LocalFile> files =
      SelectFiles(std::move(listed), r.filter ? *r.filter : none);
  if (files.empty()) {
    if (n == 0) return core::NotFound(r.src + " holds no files to upload");
    return core::NotFound("nothing to " + std::string(r.verb) + ": " + r.src +
                          FilteredOutNote(r.filter ? *r.filter : none, n));
  }
  const std::string prefix = FolderPrefix(r.url.key);
  for (auto& f : files) {
    CopyItem item;
    item.object.key = storage::JoinKey(prefix, f.relative);
    item.local_size = f.size;
    item.local_mtime_ns = f.mtime_ns;
    item.from = f.path.string();
    item.to = S3Display(r.url.bucket, item.object.key);
    item.local = std::move(f.path);
    plan.items.push_back(std::move(item));
  }
  return plan;
}

core::Result<CopyPlan> PlanDownload(storage::ObjectStore& store, const CopyRequest& r) {
  CopyPlan plan;
  if (!r.recursive) {
    SDXL_ASSIGN_OR_RETURN(storage::ObjectInfo info, store.Head(r.url.key));
    info.key = r.url.key;
    fs::path dest(r.dst);
    std::error_code ec;
    if (r.dst.ends_with('/') || fs::is_directory(dest, ec)) dest /= BaseName(r.url.key);
    CopyItem item;
    item.from = S3Display(r.url.bucket, r.url.key);
    item.to = dest.string();
    item.local = std::move(dest);
    item.object = std::move(info);
    plan.items.push_back(std::move(item));
    return plan;
  }
  const std::string prefix = FolderPrefix(r.url.key);
  SDXL_ASSIGN_OR_RETURN(std::vector<storage::PrefixObject> listed,
                        storage::ListPrefixObjects(store, prefix));
  const std::size_t n = listed.size();
  const core::PathFilter none;
  std::vector<storage::PrefixObject> objects =
      SelectObjects(std::move(listed), r.filter ? *r.filter : none);
  if (objects.empty()) {
    return core::NotFound(
        "nothing to " + std::string(r.verb) + ": no objects under " +
        S3Display(r.url.bucket, prefix) +
        (n == 0 ? " (ls shows what exists)" : FilteredOutNote(r.filter ? *r.filter : none, n)));
  }
  for (auto& o : objects) {
    CopyItem item;
    item.local = fs::path(r.dst) / o.relative;
    item.from = S3Display(r.url.bucket, o.object.key);
    item.to = item.local.string();
    item.object = std::move(o.object);
    plan.items.push_back(std::move(item));
  }
  return plan;
}

}  // namespace

std::string S3Display(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

std::string CopyUsageError(std::string_view command, std::string_view src, std::string_view dst,
                           bool recursive, bool has_filters) {
  const std::string cmd(command);
  const bool src_s3 = src.starts_with("s3://");
  const bool dst_s3 = dst.starts_with("s3://");
  if (src_s3 && dst_s3) {
    return cmd + " between two s3:// locations is not supported (no server-side copy yet); " +
           (cmd == "mv" ? "cp to a local folder, cp that up, then rm" : "download, then upload");
  }
  if (!src_s3 && !dst_s3) {
    return cmd + " needs one s3:// side: " + cmd + " FILE s3://BUCKET/KEY or " + cmd +
           " s3://BUCKET/KEY FILE" + (cmd == "cp" ? " (- for stdin/stdout)" : "");
  }
  if (has_filters && !recursive) {
    return "--exclude/--include select files in a folder or objects under a prefix; add "
           "--recursive";
  }
  if (src_s3 && !recursive) {
    auto url = ParseS3Url(src, "source");
    if (url.ok() && (url->key.empty() || url->key.ends_with('/'))) {
      return std::string(src) + " is a bucket or prefix; add --recursive to " +
             (cmd == "mv" ? "move" : "copy") + " everything under it";
    }
  }
  std::error_code ec;
  if (!src_s3 && !recursive && src != "-" && fs::is_directory(fs::path(src), ec)) {
    return std::string(src) + " is a directory; add --recursive to " +
           (cmd == "mv" ? "move" : "upload") + " it";
  }
  return "";
}

core::Result<CopyPlan> PlanCopy(storage::ObjectStore& store, const CopyRequest& request) {
  if (request.src.starts_with("s3://")) return PlanDownload(store, request);
  return PlanUpload(request);
}

core::Result<storage::TransferStats> RunCopyPlan(storage::ObjectStore& store, const CopyPlan& plan,
                                                 storage::TransferOptions options, bool quiet) {
  core::ProgressBar bar(plan.upload ? "upload" : "download", 0,
                        !quiet && core::ProgressBar::StderrIsTerminal());
  options.on_total = [&bar](std::uint64_t total) { bar.SetTotal(total); };
  options.on_progress = [&bar](std::uint64_t n) { bar.Add(n); };
  options.cancel = InstallCancelOnSignal();
  core::Result<storage::TransferStats> stats = core::Internal("unreachable");
  if (plan.upload) {
    std::vector<storage::UploadJob> jobs;
    jobs.reserve(plan.items.size());
    for (const auto& item : plan.items) jobs.push_back({item.local, item.object.key});
    stats = storage::UploadObjects(store, std::move(jobs), options);
  } else {
    std::vector<storage::DownloadJob> jobs;
    jobs.reserve(plan.items.size());
    for (const auto& item : plan.items) jobs.push_back({item.object, item.local});
    // aws s3 gives a downloaded file the object's time; a file system that cannot take it (rare)
    // costs a re-download by the next sync, not this transfer.
    options.on_downloaded = [](const storage::ObjectInfo& object, const fs::path& file) {
      (void)SetMtimeFromLastModified(file, object.last_modified);
      return core::Status::Ok();
    };
    stats = storage::DownloadObjects(store, std::move(jobs), options);
  }
  bar.Finish();
  return stats;
}

}  // namespace sdxl::cli
