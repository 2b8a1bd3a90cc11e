#pragma once
// PullWeightSource: the engine's WeightSource (weights/weight_source.h) fed by a running pull
// (PullModel with this object as its observer). What the engine asks for is answered from the
// pull's plan and its bytes in flight:
//  - WaitForComponent: the component's small files (configs, tokenizer files, shard indexes; the
//    pull downloads them before any weights) are verified and in place;
//  - ReadHeader: from the manifest's tensor index, or the header the pull read with a ranged GET,
//    or the cached file;
//  - Stream: a file already in the cache is read from disk; a file being downloaded is handed to
//    the engine's sink straight from the download's receive buffers (PullObserver::OnData) while
//    the same bytes are written to the cache. Bytes that arrived before the engine asked for the
//    file are read back from the cache file once it is complete and verified, or, for a file the
//    full disk could not cache (OnFileNotCached), read again from the bucket (the pull's
//    RereadRange, chunk by chunk, each checked against the manifest). A file the pull does not
//    download at all (OnFileNotDownloaded: the disk is too small, known up front) is read from
//    the bucket the same way, in parallel, when the engine asks for it. Stream returns when the
//    file is complete (verified when the manifest allows it).
// A failed pull, or Cancel, releases every waiter with that error. When the pull ends
// (OnPullEnding) it waits until every file that was not cached has been streamed, or until the
// engine is done (EngineFinished), since only the pull can read those bytes again.
// Thread-safe: the pull's workers call the observer methods while the engine's threads wait.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "loader/model_cache.h"
#include "weights/weight_source.h"

namespace sdxl::loader {

class PullWeightSource final : public weights::WeightSource, public PullObserver {
 public:
  // `read_threads`: readers when a file (or its early part) is read from the cache folder, and
  // twice as many requests when one is read from the bucket (OnFileNotDownloaded).
  explicit PullWeightSource(int read_threads = 4) : read_threads_(read_threads) {}

  // PullObserver (called by PullModel's threads).
  void OnPlanned(const std::filesystem::path& dir, const std::vector<PlannedFile>& files,
                 const RereadRange& reread) override;
  core::Status OnData(const std::string& rel, std::uint64_t offset,
                      std::span<const std::byte> bytes) override;
  void OnFileReady(const std::string& rel) override;
  void OnFileNotCached(const std::string& rel) override;
  void OnFileNotDownloaded(const std::string& rel) override;
  void OnPullEnding(const core::Status& status) override;

  // The pull returned: OK (every file is in place) or its error (released to every waiter).
  void Finish(const core::Status& pull_status);
  // The engine's load returned: it streams no more files (the pull need not wait for it).
  void EngineFinished();

  // WeightSource (called by the engine's threads).
  core::Status WaitForComponent(const std::string& component) override;
  bool HasFile(const std::filesystem::path& path) override;
  core::Result<weights::SafetensorsHeader> ReadHeader(const std::filesystem::path& path) override;
  core::Status Stream(const std::filesystem::path& path, const weights::WeightSink& sink) override;
  void Cancel(const core::Status& status) override;

  // Bytes handed to sinks straight from the network, and bytes read back from the cache (those
  // that arrived before the engine asked for their file, and files that were cached already).
  std::uint64_t bytes_streamed() const;
  std::uint64_t bytes_from_disk() const;
  // Bytes this source read from the bucket itself: files the disk could not cache, when the
  // engine asked for them (or the part of them that arrived before it asked).
  std::uint64_t bytes_fetched_on_demand() const;

 private:
  struct File {
    std::uint64_t size = 0;
    bool weights = false;         // streamed by the engine; otherwise a small file read from disk
    bool ready = false;           // complete and verified under its final name
    bool not_cached = false;      // not on disk: streamed only, or not downloaded at all
    bool not_downloaded = false;  // the pull leaves every byte to Stream (OnFileNotDownloaded)
    bool served = false;          // Stream of this file returned (successfully)
    std::optional<weights::SafetensorsHeader> header;
    const weights::WeightSink* sink = nullptr;  // while the engine's Stream waits
    int calls_in_sink = 0;
    std::map<std::uint64_t, std::uint64_t> missed;  // [begin, end) that arrived with no sink
  };

  // Waits (lock held) until the plan is known, the pull ended or the source failed.
  core::Status WaitPlanned(std::unique_lock<std::mutex>& lock);
  // The relative path of `path` in the plan; nullptr when the model has no such file.
  File* Find(const std::filesystem::path& path);
  // OnFileNotCached / OnFileNotDownloaded: the file is not on disk (and the pull leaves all of
  // its bytes to Stream when `not_downloaded`).
  void MarkNotCached(const std::string& rel, bool not_downloaded);
  // Pushes [begin, end) of a file that is not cached into `sink`, read from the bucket with
  // `threads` requests at a time.
  core::Status FetchOnDemand(const std::string& rel, std::uint64_t begin, std::uint64_t end,
                             const weights::WeightSink& sink, int threads);

  const int read_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool planned_ = false;
  bool finished_ = false;
  core::Status error_;
  std::filesystem::path dir_;
  std::map<std::string, File> files_;
  std::map<std::string, int> small_pending_;  // component -> small files not yet ready
  std::uint64_t bytes_streamed_ = 0;
  std::uint64_t bytes_from_disk_ = 0;
  std::uint64_t bytes_on_demand_ = 0;
  RereadRange reread_;        // the pull's, until OnPullEnding
  bool pull_ending_ = false;  // OnPullEnding: no more rereads start
  int rereads_in_flight_ = 0;
  bool engine_finished_ = false;
};

}  // namespace sdxl::loader
