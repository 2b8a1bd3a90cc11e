#include "storage/transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "core/fd_io.h"
#include "core/thread_pool.h"
#include "storage/local_object_store.h"
#include "storage/range_file.h"

namespace sdxl::storage {
namespace fs = std::filesystem;
namespace {

constexpr std::uint64_t kMinPart = 5 * kMiB;
constexpr std::uint64_t kMaxParts = 10000;
// Bytes a download worker counts before reporting progress.
constexpr std::uint64_t kProgressBatch = 4 * kMiB;

// Shared state of one transfer: first error wins and stops everyone; the user's cancel flag is
// mirrored into `stop` by a watcher so blocked requests notice it too.
class Run {
 public:
  explicit Run(const TransferOptions& o) : options_(o) {
    if (o.cancel != nullptr) {
      watcher_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(watch_mu_);
        while (!done_) {
          if (options_.cancel->load()) {
            stop_.store(true);
            break;
          }
          watch_cv_.wait_for(lock, std::chrono::milliseconds(20));
        }
      });
    }
  }
  ~Run() {
    {
      std::lock_guard<std::mutex> lock(watch_mu_);
      done_ = true;
    }
    watch_cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
  }

  const std::atomic<bool>* stop_flag() const { return &stop_; }
  // The user's flag is read directly too: the watcher mirrors it only every 20 ms, and a
  // decision such as "complete the multipart upload" must not slip through that gap.
  bool stopped() const { return stop_.load(std::memory_order_relaxed) || user_cancelled(); }
  bool user_cancelled() const { return options_.cancel != nullptr && options_.cancel->load(); }
  void Fail(core::Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok() && st.code() != core::Code::kCancelled) error_ = std::move(st);
    stop_.store(true);
  }
  core::Status Final() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return error_;
    if (user_cancelled() || stop_.load())
      return core::Cancelled("interrupted; nothing partial was kept");
    return core::Status::Ok();
  }
  void Progress(std::uint64_t n) const {
    if (options_.on_progress) options_.on_progress(n);
  }

 private:
  const TransferOptions& options_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  core::Status error_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool done_ = false;
  std::thread watcher_;
};

TransferStats Stats(std::uint64_t bytes, std::size_t objects,
                    std::chrono::steady_clock::time_point start) {
  TransferStats stats;
  stats.bytes = bytes;
  stats.objects = objects;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

core::Status CheckRelativeKey(std::string_view rel, std::string_view full_key) {
  if (rel.empty())
    return core::InvalidArgument("object \"" + std::string(full_key) +
                                 "\" maps to an empty file name");
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    const std::string_view seg = rel.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") {
      return core::InvalidArgument("object key \"" + std::string(full_key) +
                                   "\" would escape or collapse the destination directory; "
                                   "refusing to download it");
    }
    start = end + 1;
  }
  return core::Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Downloads

struct DownloadItem {
  ObjectInfo info;
  fs::path dest;  // empty: received for on_data only, no file
  fs::path tmp;
  std::mutex mu;
  std::unique_ptr<RangeFile> file;
  bool opened = false;
  bool failed = false;
  // Received without a file: no destination, or the disk filled up and on_disk_full said go on.
  // Set under `mu`; read without it by the workers between writes.
  std::atomic<bool> no_file{false};
  std::size_t remaining = 0;  // ranges not yet received
  bool done = false;          // finished: renamed into place, or fully received without a file
};

struct DownloadTask {
  std::size_t item;
  core::ByteRange range;
};

core::Status OpenTemp(DownloadItem& item, bool direct_io) {
  std::error_code ec;
  if (item.dest.has_parent_path()) fs::create_directories(item.dest.parent_path(), ec);
  if (ec) {
    return core::ErrnoStatus("cannot create directory " + item.dest.parent_path().string(),
                             ec.value());
  }
  core::RemoveAbandonedTemps(item.dest);  // what a killed earlier run left beside it
  item.tmp = TempPathFor(item.dest);
  SDXL_ASSIGN_OR_RETURN(item.file, RangeFile::Create(item.tmp, item.info.size, direct_io));
  item.opened = true;  // from here on, a failure deletes the temporary file
  return core::Status::Ok();
}

// The item's file could not be reserved or written (`why`): go on without it when the caller
// allows (on_disk_full), else the transfer fails with `why`. Call with item.mu held.
bool ContinueWithoutFile(DownloadItem& item, const core::Status& why,
                         const TransferOptions& options) {
  if (item.no_file.load()) return true;
  if (!core::IsNoSpace(why) || !options.on_data || !options.on_disk_full ||
      !options.on_disk_full(item.info, why)) {
    return false;
  }
  item.no_file.store(true);
  return true;
}

core::Status FinishItem(DownloadItem& item) {
  if (item.no_file.load()) {
    // Every byte went to on_data; what was written of the file is not kept.
    if (item.file) item.file->Close();
    if (item.opened) ::unlink(item.tmp.c_str());
    item.done = true;
    return core::Status::Ok();
  }
  SDXL_RETURN_IF_ERROR(item.file->Finish());
  if (::rename(item.tmp.c_str(), item.dest.c_str()) != 0) {
    return core::ErrnoStatus("cannot rename " + item.tmp.string() + " to " + item.dest.string(),
                             errno);
  }
  item.done = true;
  return core::Status::Ok();
}

// Where one worker's received bytes go: the item's file through the worker's RangeWriter, or,
// for an item received without a file, only to on_data (through a scratch buffer).
class RangeTarget {
 public:
  RangeTarget(DownloadItem& item, RangeWriter& writer, std::vector<char>& scratch,
              const core::ByteRange& range, const TransferOptions& options)
      : item_(item),
        writer_(writer),
        scratch_(scratch),
        options_(options),
        position_(range.offset),
        to_file_(!item.no_file.load()) {
    if (to_file_) writer_.Begin(*item_.file, range.offset);
  }
  std::uint64_t position() const { return position_; }

  // Where the next bytes may be received (zero-copy path).
  std::span<char> Space() {
    if (to_file_) return writer_.Space();
    if (scratch_.empty()) scratch_.resize(256 * 1024);
    return std::span<char>(scratch_.data(), scratch_.size());
  }
  // Hands `bytes` to on_data, then keeps them: `in_space` when they were received into Space().
  core::Status Put(std::span<const char> bytes, bool in_space) {
    if (options_.on_data) {
      SDXL_RETURN_IF_ERROR(
          options_.on_data(item_.info, position_,
                           std::span<const std::byte>(
                               reinterpret_cast<const std::byte*>(bytes.data()), bytes.size())));
    }
    position_ += bytes.size();
    if (to_file_ && item_.no_file.load(std::memory_order_relaxed)) DropFile();
    if (!to_file_) return core::Status::Ok();
    core::Status st = in_space ? writer_.Commit(bytes.size())
                               : writer_.Write(std::string_view(bytes.data(), bytes.size()));
    if (st.ok()) return st;
    {
      std::lock_guard<std::mutex> lock(item_.mu);
      if (!ContinueWithoutFile(item_, st, options_)) return st;
    }
    DropFile();
    return core::Status::Ok();
  }
  // Call once at the end of the range (also after a failure).
  core::Status End(bool complete) { return to_file_ ? writer_.End(complete) : core::Status::Ok(); }

 private:
  void DropFile() {
    (void)writer_.End(false);  // staged bytes were handed to on_data already
    to_file_ = false;
  }

  DownloadItem& item_;
  RangeWriter& writer_;
  std::vector<char>& scratch_;
  const TransferOptions& options_;
  std::uint64_t position_;
  bool to_file_;
};

core::Result<TransferStats> RunDownload(ObjectStore& store, std::vector<ObjectInfo> objects,
                                        std::vector<fs::path> dests,
                                        const TransferOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t part = std::max<std::uint64_t>(options.range_size, 64 * 1024);
  std::vector<std::unique_ptr<DownloadItem>> items;
  std::vector<DownloadTask> tasks;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (dests[i].empty() && !options.on_data) {
      return core::InvalidArgument("download of " + store.DescribeKey(objects[i].key) +
                                   " has no destination and no on_data to receive it");
    }
    if (!options.overwrite && !dests[i].empty() && fs::exists(dests[i])) {
      return core::Status(core::Code::kAlreadyExists,
                          dests[i].string() + " already exists; remove it or allow overwriting");
    }
    auto item = std::make_unique<DownloadItem>();
    item->info = std::move(objects[i]);
    item->dest = std::move(dests[i]);
    item->no_file.store(item->dest.empty());
    auto ranges = PlanRanges(item->info.size, part);
    item->remaining = ranges.size();
    for (const auto& r : ranges) tasks.push_back({i, r});
    total += item->info.size;
    items.push_back(std::move(item));
  }
  if (options.on_total) options.on_total(total);

  Run run(options);
  const auto concurrency = static_cast<std::size_t>(std::max(options.concurrency, 1));
  std::vector<std::unique_ptr<RangeWriter>> writers(concurrency);
  std::vector<std::vector<char>> scratches(concurrency);
  const auto stopped = [&run] { return run.stopped(); };
  core::ParallelForWorkers(
      tasks.size(), concurrency,
      [&](std::size_t worker, std::size_t t) {
        DownloadItem& item = *items[tasks[t].item];
        const core::ByteRange range = tasks[t].range;
        {
          std::lock_guard<std::mutex> lock(item.mu);
          if (item.failed) return;  // the item already failed
          if (!item.opened && !item.no_file.load()) {
            core::Status st = OpenTemp(item, options.direct_io);
            if (!st.ok() && !ContinueWithoutFile(item, st, options)) {
              item.failed = true;
              return run.Fail(st);
            }
          }
        }
        if (!writers[worker]) writers[worker] = std::make_unique<RangeWriter>();
        RangeTarget target(item, *writers[worker], scratches[worker], range, options);
        core::Status write_error;
        // Progress is reported in batches: one shared atomic per network read from 16 threads
        // showed up as 8% of the client's CPU (cache-line ping-pong).
        std::uint64_t unreported = 0;
        const auto put = [&](std::span<const char> bytes, bool in_space) {
          if (run.user_cancelled()) return false;
          write_error = target.Put(bytes, in_space);
          if (!write_error.ok()) return false;
          unreported += bytes.size();
          if (unreported >= kProgressBatch) {
            run.Progress(unreported);
            unreported = 0;
          }
          return true;
        };
        ChunkSink sink = [&](std::string_view chunk) {
          return put(std::span<const char>(chunk.data(), chunk.size()), false);
        };
        // The same, without a copy: the store may receive straight into the staging buffer.
        http::BodyBuffer buffer;
        buffer.space = [&target] { return target.Space(); };
        buffer.commit = [&](std::size_t n) {
          return put(std::span<const char>(target.Space().data(), n), true);
        };
        ReadOptions ro;
        ro.buffer = &buffer;
        ro.if_match = item.info.etag;
        ro.cancel = run.stop_flag();
        ro.max_attempts = options.max_attempts;
        core::Status st = range.length == 0
                              ? core::Status::Ok()
                              : store.GetRange(item.info.key, range.offset, range.length, sink, ro);
        const bool complete =
            st.ok() && write_error.ok() && target.position() == range.offset + range.length;
        if (unreported != 0) run.Progress(unreported);
        core::Status end = target.End(complete);
        if (!write_error.ok()) return run.Fail(write_error);
        if (!st.ok()) return run.Fail(st);
        if (!end.ok()) {
          std::lock_guard<std::mutex> lock(item.mu);
          if (!ContinueWithoutFile(item, end, options)) return run.Fail(end);
        }
        if (!complete) {
          return run.Fail(core::DataLoss(store.DescribeKey(item.info.key) + ": range at " +
                                         std::to_string(range.offset) + " came back short"));
        }
        bool finished = false;
        fs::path file;
        {
          std::lock_guard<std::mutex> lock(item.mu);
          if (--item.remaining == 0) {
            core::Status fst = FinishItem(item);
            if (!fst.ok() && ContinueWithoutFile(item, fst, options)) fst = FinishItem(item);
            if (!fst.ok()) {
              item.failed = true;
              return run.Fail(fst);
            }
            finished = true;
            if (!item.no_file.load()) file = item.dest;
          }
        }
        if (finished && options.on_downloaded) {
          core::Status cst = options.on_downloaded(item.info, file);
          if (!cst.ok()) run.Fail(cst);
        }
      },
      stopped);

  // Whatever did not finish leaves no trace: close and delete its temporary file.
  for (auto& item : items) {
    if (item->file) item->file->Close();
    if (item->opened && !item->done) ::unlink(item->tmp.c_str());
  }
  SDXL_RETURN_IF_ERROR(run.Final());
  return Stats(total, items.size(), start);
}

// ---------------------------------------------------------------------------------------------
// Uploads

struct UploadItem {
  fs::path source;
  std::string key;
  std::uint64_t size = 0;
  struct timespec mtime {};
  std::uint64_t part_size = 0;
  bool multipart = false;
  std::mutex mu;
  std::string upload_id;
  bool create_failed = false;
  std::vector<PartInfo> parts;
  std::size_t remaining = 0;
  bool done = false;
};

struct UploadTask {
  std::size_t item;
  std::size_t part;  // 0-based
};

core::Status ReadExactly(int fd, char* out, std::uint64_t offset, std::uint64_t length,
                         const fs::path& path) {
  const core::IoResult r = core::PreadFull(fd, out, static_cast<std::size_t>(length), offset);
  if (!r.ok()) return core::ErrnoStatus("cannot read " + path.string(), r.error);
  if (r.done < length) {
    return core::DataLoss(path.string() + " shrank while it was uploaded; run again");
  }
  return core::Status::Ok();
}

core::Status CheckUnchanged(const UploadItem& item) {
  struct stat st {};
  if (::stat(item.source.c_str(), &st) != 0 ||
      static_cast<std::uint64_t>(st.st_size) != item.size ||
      st.st_mtim.tv_sec != item.mtime.tv_sec || st.st_mtim.tv_nsec != item.mtime.tv_nsec) {
    return core::FailedPrecondition(item.source.string() +
                                    " changed while it was uploaded; run again");
  }
  return core::Status::Ok();
}

core::Result<TransferStats> RunUpload(ObjectStore& store, std::vector<fs::path> sources,
                                      std::vector<std::string> keys,
                                      const TransferOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<UploadItem>> items;
  std::vector<UploadTask> tasks;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    auto item = std::make_unique<UploadItem>();
    item->source = std::move(sources[i]);
    item->key = std::move(keys[i]);
    struct stat st {};
    if (::stat(item->source.c_str(), &st) != 0) {
      return core::ErrnoStatus("cannot read " + item->source.string(), errno);
    }
    if (!S_ISREG(st.st_mode)) {
      return core::InvalidArgument(item->source.string() + " is not a regular file");
    }
    item->size = static_cast<std::uint64_t>(st.st_size);
    item->mtime = st.st_mtim;
    item->multipart =
        item->size >= std::max<std::uint64_t>(options.multipart_threshold, 1) && item->size > 0;
    item->part_size = item->multipart ? ChoosePartSize(item->size, options.part_size) : item->size;
    const std::size_t nparts =
        item->multipart
            ? static_cast<std::size_t>((item->size + item->part_size - 1) / item->part_size)
            : 1;
    item->parts.resize(nparts);
    item->remaining = nparts;
    for (std::size_t p = 0; p < nparts; ++p) tasks.push_back({i, p});
    total += item->size;
    items.push_back(std::move(item));
  }
  if (options.on_total) options.on_total(total);

  Run run(options);
  const int workers = std::max(options.concurrency, 1);
  std::vector<std::vector<char>> buffers(static_cast<std::size_t>(workers));
  const auto stopped = [&run] { return run.stopped(); };
  core::ParallelForWorkers(
      tasks.size(), static_cast<std::size_t>(workers),
      [&](std::size_t w, std::size_t t) {
        UploadItem& item = *items[tasks[t].item];
        const std::size_t p = tasks[t].part;
        const std::uint64_t offset = p * item.part_size;
        const std::uint64_t length = std::min(item.part_size, item.size - offset);
        if (item.multipart) {
          std::lock_guard<std::mutex> lock(item.mu);
          if (item.create_failed) return;
          if (item.upload_id.empty()) {
            auto id = store.CreateMultipartUpload(item.key);
            if (!id.ok()) {
              item.create_failed = true;
              return run.Fail(id.status());
            }
            item.upload_id = *id;
          }
        }
        std::vector<char>& buf = buffers[w];
        if (buf.size() < length) buf.resize(length);
        {
          const int fd = ::open(item.source.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            return run.Fail(core::ErrnoStatus("cannot open " + item.source.string(), errno));
          core::Status st = ReadExactly(fd, buf.data(), offset, length, item.source);
          ::close(fd);
          if (!st.ok()) return run.Fail(st);
        }
        const std::string_view data(buf.data(), length);
        if (!item.multipart) {
          core::Status changed = CheckUnchanged(item);
          if (!changed.ok()) return run.Fail(changed);
          auto etag = store.Put(item.key, data);
          if (!etag.ok()) return run.Fail(etag.status());
          run.Progress(length);
          std::lock_guard<std::mutex> lock(item.mu);
          item.done = true;
          return;
        }
        auto etag = store.UploadPart(item.key, item.upload_id, static_cast<int>(p + 1), data);
        if (!etag.ok()) return run.Fail(etag.status());
        run.Progress(length);
        std::lock_guard<std::mutex> lock(item.mu);
        item.parts[p] = PartInfo{static_cast<int>(p + 1), *etag, length};
        if (--item.remaining == 0) {
          core::Status changed = CheckUnchanged(item);
          if (!changed.ok()) return run.Fail(changed);
          if (run.stopped()) return;
          auto done = store.CompleteMultipartUpload(item.key, item.upload_id, item.parts);
          if (!done.ok()) return run.Fail(done.status());
          item.done = true;
        }
      },
      stopped);

  // Open multipart uploads that did not complete are aborted (they would cost storage forever).
  for (auto& item : items) {
    if (item->multipart && !item->upload_id.empty() && !item->done) {
      (void)store.AbortMultipartUpload(item->key, item->upload_id);
    }
  }
  SDXL_RETURN_IF_ERROR(run.Final());
  return Stats(total, items.size(), start);
}

}  // namespace

std::string JoinKey(std::string_view prefix, std::string_view relative) {
  if (prefix.empty()) return std::string(relative);
  std::string out(prefix);
  if (out.back() != '/') out.push_back('/');
  return out + std::string(relative);
}

std::vector<core::ByteRange> PlanRanges(std::uint64_t size, std::uint64_t part_size) {
  std::vector<core::ByteRange> out;
  if (size == 0) {
    out.push_back({0, 0});
    return out;
  }
  part_size = std::max<std::uint64_t>(part_size, 1);
  for (std::uint64_t off = 0; off < size; off += part_size) {
    out.push_back({off, std::min(part_size, size - off)});
  }
  return out;
}

std::uint64_t ChoosePartSize(std::uint64_t size, std::uint64_t preferred) {
  std::uint64_t part = std::max(preferred, kMinPart);
  const std::uint64_t needed = (size + kMaxParts - 1) / kMaxParts;
  if (part < needed) part = (needed + kMiB - 1) / kMiB * kMiB;
  return part;
}

core::Result<TransferStats> DownloadFile(ObjectStore& store, std::string_view key,
                                         const fs::path& destination,
                                         const TransferOptions& options) {
  SDXL_ASSIGN_OR_RETURN(ObjectInfo info, store.Head(key));
  return RunDownload(store, {std::move(info)}, {destination}, options);
}

core::Result<std::vector<PrefixObject>> ListPrefixObjects(ObjectStore& store,
                                                          std::string_view prefix) {
  // A prefix names a directory: "models/x" must not pick up "models/xl/...".
  std::string dir_prefix(prefix);
  if (!dir_prefix.empty() && dir_prefix.back() != '/') dir_prefix.push_back('/');
  SDXL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> all, store.List(dir_prefix));
  std::vector<PrefixObject> out;
  out.reserve(all.size());
  for (auto& o : all) {
    if (o.key.ends_with('/')) continue;  // "directory" marker objects
    if (!std::string_view(o.key).starts_with(dir_prefix)) continue;
    std::string_view rel = std::string_view(o.key).substr(dir_prefix.size());
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    SDXL_RETURN_IF_ERROR(CheckRelativeKey(rel, o.key));
    std::string relative(rel);
    out.push_back({std::move(o), std::move(relative)});
  }
  std::sort(out.begin(), out.end(), [](const PrefixObject& a, const PrefixObject& b) {
    return a.object.key < b.object.key;
  });
  return out;
}

core::Result<TransferStats> DownloadPrefix(ObjectStore& store, std::string_view prefix,
                                           const fs::path& directory,
                                           const TransferOptions& options) {
  SDXL_ASSIGN_OR_RETURN(std::vector<PrefixObject> listed, ListPrefixObjects(store, prefix));
  if (listed.empty()) {
    std::string dir_prefix(prefix);
    if (!dir_prefix.empty() && dir_prefix.back() != '/') dir_prefix.push_back('/');
    return core::NotFound("no objects under " + store.DescribeKey(dir_prefix) +
                          "; check the prefix (ls lists what exists)");
  }
  std::vector<ObjectInfo> objects;
  std::vector<fs::path> dests;
  objects.reserve(listed.size());
  dests.reserve(listed.size());
  for (auto& p : listed) {
    dests.push_back(directory / p.relative);
    objects.push_back(std::move(p.object));
  }
  return RunDownload(store, std::move(objects), std::move(dests), options);
}

core::Result<TransferStats> DownloadObjects(ObjectStore& store, std::vector<DownloadJob> jobs,
                                            const TransferOptions& options) {
  std::vector<ObjectInfo> objects;
  std::vector<fs::path> dests;
  objects.reserve(jobs.size());
  dests.reserve(jobs.size());
  for (auto& job : jobs) {
    objects.push_back(std::move(job.object));
    dests.push_back(std::move(job.destination));
  }
  return RunDownload(store, std::move(objects), std::move(dests), options);
}

core::Result<TransferStats> UploadFile(ObjectStore& store, const fs::path& source,
                                       std::string_view key, const TransferOptions& options) {
  return RunUpload(store, {source}, {std::string(key)}, options);
}

core::Result<TransferStats> UploadObjects(ObjectStore& store, std::vector<UploadJob> jobs,
                                          const TransferOptions& options) {
  std::vector<fs::path> sources;
  std::vector<std::string> keys;
  sources.reserve(jobs.size());
  keys.reserve(jobs.size());
  for (auto& job : jobs) {
    sources.push_back(std::move(job.source));
    keys.push_back(std::move(job.key));
  }
  return RunUpload(store, std::move(sources), std::move(keys), options);
}

core::Result<std::vector<LocalFile>> ListLocalFiles(const fs::path& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    return core::NotFound(directory.string() + " is not a directory");
  }
  std::vector<LocalFile> files;
  for (fs::recursive_directory_iterator it(directory, ec), end; it != end; it.increment(ec)) {
    if (ec) return core::ErrnoStatus("cannot list " + directory.string(), ec.value());
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name.find(kTempMarker) != std::string::npos) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed while listed
      return core::ErrnoStatus("cannot read " + it->path().string(), errno);
    }
    LocalFile f;
    f.path = it->path();
    f.relative = it->path().lexically_relative(directory).generic_string();
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    files.push_back(std::move(f));
  }
  if (ec) return core::ErrnoStatus("cannot list " + directory.string(), ec.value());
  std::sort(files.begin(), files.end(),
            [](const LocalFile& a, const LocalFile& b) { return a.relative < b.relative; });
  return files;
}

core::Result<TransferStats> UploadDirectory(ObjectStore& store, const fs::path& directory,
                                            std::string_view prefix,
                                            const TransferOptions& options) {
  SDXL_ASSIGN_OR_RETURN(std::vector<LocalFile> files, ListLocalFiles(directory));
  if (files.empty()) return core::NotFound(directory.string() + " holds no files to upload");
  std::vector<fs::path> sources;
  std::vector<std::string> keys;
  sources.reserve(files.size());
  keys.reserve(files.size());
  for (auto& f : files) {
    keys.push_back(JoinKey(prefix, f.relative));
    sources.push_back(std::move(f.path));
  }
  return RunUpload(store, std::move(sources), std::move(keys), options);
}

}  // namespace sdxl::storage
