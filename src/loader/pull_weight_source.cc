#include "loader/pull_weight_source.h"

#include <algorithm>
#include <utility>

#include "core/byte_range.h"
#include "core/thread_pool.h"

namespace sdxl::loader {
namespace fs = std::filesystem;
namespace {

std::string ComponentOfRel(const std::string& rel) {
  const auto slash = rel.find('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

bool IsWeights(const std::string& rel) { return rel.ends_with(".safetensors"); }

}  // namespace

void PullWeightSource::OnPlanned(const fs::path& dir, const std::vector<PlannedFile>& files,
                                 const RereadRange& reread) {
  std::lock_guard<std::mutex> lock(mu_);
  dir_ = dir;
  reread_ = reread;
  for (const auto& f : files) {
    File& file = files_[f.rel];
    file.size = f.size;
    file.weights = IsWeights(f.rel);
    file.ready = f.cached;
    file.header = f.header;
    int& pending = small_pending_[ComponentOfRel(f.rel)];
    if (!file.weights && !file.ready) ++pending;
  }
  planned_ = true;
  cv_.notify_all();
}

core::Status PullWeightSource::OnData(const std::string& rel, std::uint64_t offset,
                                      std::span<const std::byte> bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;  // the load failed or was cancelled: stop the download too
  auto it = files_.find(rel);
  if (it == files_.end() || !it->second.weights) return core::Status::Ok();
  File& file = it->second;
  if (file.sink == nullptr) {
    // Nobody asked for this file yet: read it back from the cache once it is complete. Ranges
    // arrive in order, so a piece usually extends the interval before it.
    const std::uint64_t end = offset + bytes.size();
    auto next = file.missed.lower_bound(offset);
    if (next != file.missed.begin()) {
      auto prev = std::prev(next);
      if (prev->second == offset) {
        prev->second = end;
        if (next != file.missed.end() && next->first == end) {
          prev->second = next->second;
          file.missed.erase(next);
        }
        return core::Status::Ok();
      }
    }
    if (next != file.missed.end() && next->first == end) {
      const std::uint64_t next_end = next->second;
      file.missed.erase(next);
      file.missed.emplace(offset, next_end);
    } else {
      file.missed.emplace(offset, end);
    }
    return core::Status::Ok();
  }
  const weights::WeightSink* sink = file.sink;
  ++file.calls_in_sink;
  bytes_streamed_ += bytes.size();
  lock.unlock();
  core::Status st = (*sink)(offset, bytes);
  lock.lock();
  if (--file.calls_in_sink == 0) cv_.notify_all();
  return st;
}

void PullWeightSource::OnFileReady(const std::string& rel) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(rel);
  if (it == files_.end()) return;
  it->second.ready = true;
  if (!it->second.weights) --small_pending_[ComponentOfRel(rel)];
  cv_.notify_all();
}

void PullWeightSource::OnFileNotCached(const std::string& rel) { MarkNotCached(rel, false); }

void PullWeightSource::OnFileNotDownloaded(const std::string& rel) { MarkNotCached(rel, true); }

void PullWeightSource::MarkNotCached(const std::string& rel, bool not_downloaded) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(rel);
  if (it == files_.end()) return;
  it->second.not_cached = true;
  it->second.not_downloaded = not_downloaded;
  cv_.notify_all();
}

void PullWeightSource::OnPullEnding(const core::Status& status) {
  std::unique_lock<std::mutex> lock(mu_);
  // On success, the files that were not cached can only be read again through the pull: wait
  // until the engine streamed them (or is done, or failed).
  cv_.wait(lock, [&] {
    if (!status.ok() || !error_.ok() || engine_finished_) return true;
    for (const auto& [rel, file] : files_) {
      if (file.weights && file.not_cached && !file.served) return false;
    }
    return true;
  });
  pull_ending_ = true;
  cv_.wait(lock, [&] { return rereads_in_flight_ == 0; });
  reread_ = nullptr;
}

void PullWeightSource::EngineFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  engine_finished_ = true;
  cv_.notify_all();
}

void PullWeightSource::Finish(const core::Status& pull_status) {
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  if (!pull_status.ok() && error_.ok()) error_ = pull_status;
  cv_.notify_all();
}

void PullWeightSource::Cancel(const core::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = status.ok() ? core::Cancelled("loading was cancelled") : status;
  cv_.notify_all();
}

core::Status PullWeightSource::WaitPlanned(std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [&] { return planned_ || finished_ || !error_.ok(); });
  return error_;
}

PullWeightSource::File* PullWeightSource::Find(const fs::path& path) {
  if (!planned_) return nullptr;
  const fs::path rel = path.lexically_normal().lexically_relative(dir_.lexically_normal());
  auto it = files_.find(rel.generic_string());
  return it == files_.end() ? nullptr : &it->second;
}

core::Status PullWeightSource::WaitForComponent(const std::string& component) {
  std::unique_lock<std::mutex> lock(mu_);
  SDXL_RETURN_IF_ERROR(WaitPlanned(lock));
  cv_.wait(lock, [&] {
    if (!error_.ok() || finished_) return true;
    auto it = small_pending_.find(component);
    return it == small_pending_.end() || it->second <= 0;
  });
  return error_;
}

bool PullWeightSource::HasFile(const fs::path& path) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!WaitPlanned(lock).ok()) return false;
  if (!planned_) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
  }
  return Find(path) != nullptr;
}

core::Result<weights::SafetensorsHeader> PullWeightSource::ReadHeader(const fs::path& path) {
  std::unique_lock<std::mutex> lock(mu_);
  SDXL_RETURN_IF_ERROR(WaitPlanned(lock));
  File* file = Find(path);
  if (file != nullptr && file->header) return *file->header;
  if (file != nullptr) {
    // No header known ahead (a cached file of a model without a manifest): from the file.
    cv_.wait(lock, [&] { return file->ready || finished_ || !error_.ok(); });
    SDXL_RETURN_IF_ERROR(error_);
  }
  lock.unlock();
  return weights::ReadSafetensorsHeaderFromFile(path);
}

core::Status PullWeightSource::Stream(const fs::path& path, const weights::WeightSink& sink) {
  std::unique_lock<std::mutex> lock(mu_);
  SDXL_RETURN_IF_ERROR(WaitPlanned(lock));
  File* file = Find(path);
  const auto stop = [this]() -> core::Status {
    std::lock_guard<std::mutex> guard(mu_);
    return error_;
  };
  if (file == nullptr || file->ready) {
    // Complete on disk already (cached, or a folder the pull did not plan): read it.
    lock.unlock();
    SDXL_ASSIGN_OR_RETURN(weights::SafetensorsHeader header, ReadHeader(path));
    const std::uint64_t begin = header.data_offset(), end = header.file_size();
    SDXL_RETURN_IF_ERROR(weights::StreamFileRange(path, begin, end, sink, read_threads_, stop));
    lock.lock();
    bytes_from_disk_ += end - begin;
    return core::Status::Ok();
  }
  if (file->sink != nullptr) {
    return core::Internal(path.string() + " is already being streamed to another sink");
  }
  if (file->not_downloaded) {
    // Nothing of it comes through the pull: every byte from the bucket, now.
    if (!file->header) return core::Internal(path.string() + ": no header in the plan");
    const std::uint64_t begin = file->header->data_offset(), end = file->header->file_size();
    const std::string rel =
        path.lexically_normal().lexically_relative(dir_.lexically_normal()).generic_string();
    lock.unlock();
    SDXL_RETURN_IF_ERROR(FetchOnDemand(rel, begin, end, sink, 2 * read_threads_));
    lock.lock();
    file->served = true;
    cv_.notify_all();
    return core::Status::Ok();
  }
  file->sink = &sink;
  cv_.wait(lock, [&] { return file->ready || file->not_cached || finished_ || !error_.ok(); });
  std::map<std::uint64_t, std::uint64_t> missed = std::move(file->missed);
  file->missed.clear();
  file->sink = nullptr;
  // No download worker may still be inside the sink when this returns (it lives on the
  // caller's stack).
  cv_.wait(lock, [&] { return file->calls_in_sink == 0; });
  SDXL_RETURN_IF_ERROR(error_);
  if (!file->ready && !file->not_cached) {
    return core::Internal(path.string() + ": the pull ended without this file");
  }
  const bool from_disk = file->ready;
  const std::string rel =
      path.lexically_normal().lexically_relative(dir_.lexically_normal()).generic_string();
  lock.unlock();
  std::uint64_t replayed = 0;
  for (const auto& [begin, end] : missed) {
    SDXL_RETURN_IF_ERROR(from_disk
                             ? weights::StreamFileRange(path, begin, end, sink, read_threads_, stop)
                             : FetchOnDemand(rel, begin, end, sink, read_threads_));
    replayed += end - begin;
  }
  lock.lock();
  if (from_disk) bytes_from_disk_ += replayed;  // (FetchOnDemand counts its own)
  file->served = true;
  cv_.notify_all();
  return core::Status::Ok();
}

core::Status PullWeightSource::FetchOnDemand(const std::string& rel, std::uint64_t begin,
                                             std::uint64_t end, const weights::WeightSink& sink,
                                             int threads) {
  // Pieces aligned to the manifest's chunks (8 MiB), so that each chunk is read once.
  constexpr std::uint64_t kPiece = 8ull << 20;
  std::vector<core::ByteRange> pieces;
  for (std::uint64_t offset = begin; offset < end;) {
    const std::uint64_t next = std::min(end, (offset / kPiece + 1) * kPiece);
    pieces.push_back({offset, next - offset});
    offset = next;
  }
  return core::ParallelFor(
      pieces.size(), static_cast<std::size_t>(std::max(threads, 1)),
      [&](std::size_t k) -> core::Status {
        const core::ByteRange piece = pieces[k];
        RereadRange reread;
        {
          std::lock_guard<std::mutex> lock(mu_);
          SDXL_RETURN_IF_ERROR(error_);
          if (pull_ending_ || !reread_) {
            return core::Internal(dir_.string() + "/" + rel +
                                  ": the pull ended before the bytes it could not cache were "
                                  "streamed");
          }
          reread = reread_;
          ++rereads_in_flight_;
        }
        std::vector<char> buffer(piece.length);
        core::Status st = reread(rel, piece.offset, std::span<char>(buffer));
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (--rereads_in_flight_ == 0) cv_.notify_all();
          if (st.ok()) bytes_on_demand_ += piece.length;
        }
        SDXL_RETURN_IF_ERROR(st);
        return sink(piece.offset, std::as_bytes(std::span<const char>(buffer)));
      });
}

std::uint64_t PullWeightSource::bytes_streamed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_streamed_;
}

std::uint64_t PullWeightSource::bytes_from_disk() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_from_disk_;
}

std::uint64_t PullWeightSource::bytes_fetched_on_demand() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_on_demand_;
}

}  // namespace sdxl::loader
