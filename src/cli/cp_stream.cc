#include "cli/cp_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <future>
#include <string>
#include <vector>

#include "core/fd_io.h"

namespace sdxl::cli {
namespace {

constexpr int kMaxParts = 10000;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool Cancelled(const storage::TransferOptions& o) {
  return o.cancel != nullptr && o.cancel->load();
}

// Reads up to buf->size() bytes; shrinks buf to what was read (short only at the end of input).
// A signal that interrupts the read (Ctrl-C while a terminal or a slow producer feeds stdin)
// stops it when it asked to cancel.
core::Status ReadPart(int fd, std::string* buf, const storage::TransferOptions& o) {
  std::size_t done = 0;
  while (done < buf->size()) {
    const ssize_t n = ::read(fd, buf->data() + done, buf->size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      return core::ErrnoStatus("cannot read standard input", errno);
    } else if (Cancelled(o)) {
      return core::Cancelled("cancelled; nothing was uploaded");
    }
  }
  buf->resize(done);
  return core::Status::Ok();
}

}  // namespace

core::Result<StreamStats> UploadStream(storage::ObjectStore& store, std::string_view key, int fd,
                                       const storage::TransferOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::size_t part_size = static_cast<std::size_t>(options.part_size);
  StreamStats stats;
  std::string first(part_size, '\0');
  SDXL_RETURN_IF_ERROR(ReadPart(fd, &first, options));
  if (Cancelled(options)) return core::Cancelled("cancelled; nothing was uploaded");
  if (first.size() < part_size) {  // the whole input fits in one part: one PUT
    SDXL_RETURN_IF_ERROR(store.Put(key, first).status());
    if (options.on_progress) options.on_progress(first.size());
    stats.bytes = first.size();
    stats.seconds = SecondsSince(start);
    return stats;
  }

  SDXL_ASSIGN_OR_RETURN(const std::string upload_id, store.CreateMultipartUpload(key));
  const std::size_t in_flight = static_cast<std::size_t>(std::clamp(options.concurrency, 1, 4));
  std::vector<storage::PartInfo> parts;
  std::deque<std::future<core::Result<storage::PartInfo>>> pending;
  core::Status failure;
  // Waits for the oldest part in flight; remembers the first failure.
  auto collect_one = [&] {
    auto r = pending.front().get();
    pending.pop_front();
    if (!r.ok()) {
      if (failure.ok()) failure = r.status();
      return;
    }
    if (options.on_progress) options.on_progress(r->size);
    parts.push_back(*r);
  };
  auto send = [&](int number, std::string data) {
    pending.push_back(std::async(
        std::launch::async,
        [&store, key = std::string(key), &upload_id, number,
         data = std::move(data)]() -> core::Result<storage::PartInfo> {
          SDXL_ASSIGN_OR_RETURN(std::string etag, store.UploadPart(key, upload_id, number, data));
          return storage::PartInfo{number, std::move(etag), data.size()};
        }));
  };
  std::string next = std::move(first);
  for (int number = 1; failure.ok(); ++number) {
    if (Cancelled(options)) {
      failure = core::Cancelled("cancelled; the multipart upload was aborted");
      break;
    }
    if (number > kMaxParts) {
      failure = core::InvalidArgument(
          "standard input is longer than 10000 parts of --part-size; run again with a larger "
          "--part-size (e.g. 64MiB for up to 625 GiB)");
      break;
    }
    stats.bytes += next.size();
    const bool last = next.size() < part_size;
    send(number, std::move(next));
    if (last) break;
    while (pending.size() >= in_flight && failure.ok()) collect_one();
    next.assign(part_size, '\0');
    if (core::Status st = ReadPart(fd, &next, options); !st.ok()) {
      failure = st;
      break;
    }
    if (next.empty()) break;  // the input ended on a part boundary
  }
  while (!pending.empty()) collect_one();
  if (failure.ok() && Cancelled(options)) {
    failure = core::Cancelled("cancelled; the multipart upload was aborted");
  }
  if (failure.ok()) {
    std::sort(
        parts.begin(), parts.end(),
        [](const storage::PartInfo& a, const storage::PartInfo& b) { return a.number < b.number; });
    auto done = store.CompleteMultipartUpload(key, upload_id, parts);
    if (done.ok()) {
      stats.parts = static_cast<int>(parts.size());
      stats.seconds = SecondsSince(start);
      return stats;
    }
    failure = done.status();
  }
  (void)store.AbortMultipartUpload(key, upload_id);  // best effort; the failure is what matters
  return failure;
}

core::Result<StreamStats> DownloadStream(storage::ObjectStore& store, std::string_view key, int fd,
                                         const storage::TransferOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  StreamStats stats;
  core::Status write_error;
  storage::ReadOptions ro;
  ro.cancel = options.cancel;
  core::Status st = store.GetRange(
      key, 0, std::nullopt,
      [&](std::string_view chunk) {
        if (Cancelled(options)) return false;
        const core::IoResult r = core::WriteFull(fd, chunk);
        if (!r.ok()) {
          write_error = core::ErrnoStatus("cannot write standard output", r.error);
          return false;
        }
        stats.bytes += chunk.size();
        if (options.on_progress) options.on_progress(chunk.size());
        return true;
      },
      ro);
  if (!write_error.ok()) return write_error;
  if (!st.ok()) return st;
  stats.seconds = SecondsSince(start);
  return stats;
}

}  // namespace sdxl::cli
