#pragma once
// PullModel: brings a prepared SDXL pipeline from object storage into a verified local cache
// folder, ready for Engine::LoadPipeline, and reuses whatever the cache already holds.
//
// Layout: the files of s3://BUCKET/PREFIX land in CACHE_ROOT/BUCKET/PREFIX/ with their key paths;
// the folder also holds the cache's bookkeeping (cache_state.h) and CACHE_ROOT/BUCKET/PREFIX.lock
// serialises pulls of the same model (a second process waits, then finds everything reused).
//
// What a pull does:
//  1. list the prefix; no bucket, no objects or no model_index.json are errors that say what to do;
//  2. with the project manifest (weights/manifest.h, written last by prepare-model) the manifest's
//     files, sizes and SHA-256 define the model; without one (a plain diffusers folder, e.g. made
//     by the seed's Python script) the listing's sizes and ETags do;
//  3. each cached file is reused when it still matches (a recorded stat stamp avoids re-reading
//     it; otherwise it is re-hashed), else fetched again; files of an older version are removed;
//  4. missing files are downloaded with the parallel transfer engine (ranged GETs, If-Match on the
//     listed ETag, temp file + rename) and, with a manifest, verified before they get their final
//     name: each 8 MiB chunk against the manifest's XXH3-64 as its bytes arrive (a bad chunk
//     fails the pull at once), or, when the chunks cannot be checked in flight, the whole file's
//     SHA-256 once it is complete. A final name never holds a partial or unverified file;
//  5. the completion marker is written last, so a killed pull is resumed by the next one and a
//     half-pulled folder is never reported ready.
// With an observer and `continue_without_cache`, a disk too small for the weights does not stop
// the load: weight files that cannot be cached are streamed to the observer only (see
// PullOptions); the folder then stays incomplete and the next pull downloads them again.
//
// Thread-safe: concurrent calls are fine (pulls of the same model serialise on the lock file);
// `store` must be rooted at ref.bucket (keys are full keys), as OpenObjectStore("s3://BUCKET")
// returns. The result is a value owned by the caller.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/environment.h"
#include "core/status.h"
#include "loader/model_ref.h"
#include "storage/object_store.h"
#include "storage/transfer.h"
#include "weights/safetensors.h"

namespace sdxl::loader {

// Wall seconds of each phase. verify_s is the time spent hashing downloaded files; it runs on the
// transfer workers while other files still arrive, so it overlaps transfer_s.
struct PullTimings {
  double list_s = 0;      // listing + reading the manifest
  double plan_s = 0;      // checking the cache (re-hashing files whose stamp changed)
  double transfer_s = 0;  // downloads (including the verification of each file as it lands)
  double verify_s = 0;    // SHA-256 of downloaded files (summed over workers; inside transfer_s)
  double total_s = 0;     // the whole call, waiting for the lock included
};

struct PullStats {
  std::uint64_t bytes_downloaded = 0, bytes_reused = 0;
  int files_downloaded = 0, files_reused = 0;
  // Files of the model (counted as downloaded above) that are not in the cache because the disk
  // was full: they went to the observer only.
  std::uint64_t bytes_not_cached = 0;
  int files_not_cached = 0;
};

// One file of the model as a pull plans it.
struct PlannedFile {
  std::string rel;  // path relative to the model folder ("unet/config.json")
  std::uint64_t size = 0;
  bool cached = false;  // already complete and verified in the cache: no download
  // Safetensors files: the header, from the manifest or read with a ranged GET before the
  // download (nullopt for cached files without a manifest: read it from the file).
  std::optional<weights::SafetensorsHeader> header;
};

// Reads `out.size()` bytes at `offset` of a planned file (`rel`) from the bucket again: the
// object version the pull planned (If-Match), each byte checked against the manifest's chunk
// hashes when it has them. For an observer that missed bytes of a file the disk could not cache.
using RereadRange =
    std::function<core::Status(const std::string& rel, std::uint64_t offset, std::span<char> out)>;

// Sees a pull as it runs, for consuming the model while it downloads (PullWeightSource).
// Methods are called from the pull's threads; implementations must be thread-safe.
class PullObserver {
 public:
  virtual ~PullObserver() = default;
  // Once, before any download starts: the model folder and every file of the model. Small
  // files (anything but *.safetensors) download first, then the weights in the engine's order.
  // `reread` stays usable until OnPullEnding returns.
  virtual void OnPlanned(const std::filesystem::path& dir, const std::vector<PlannedFile>& files,
                         const RereadRange& reread) = 0;
  // Bytes of a downloading file as they arrive (TransferOptions::on_data: each byte once, any
  // order across ranges). A non-OK status fails the pull.
  virtual core::Status OnData(const std::string& rel, std::uint64_t offset,
                              std::span<const std::byte> bytes) = 0;
  // A downloaded file is complete, verified and under its final name.
  virtual void OnFileReady(const std::string& rel) = 0;
  // A downloaded weights file is complete and verified (every chunk, in flight), but only went
  // through OnData: the disk filled up while caching it, nothing of it is on disk.
  virtual void OnFileNotCached(const std::string& rel) = 0;
  // The pull does not download this weights file: the disk cannot cache it (known up front).
  // The observer reads what it needs with `reread`. Called before any download starts.
  virtual void OnFileNotDownloaded(const std::string& rel) = 0;
  // Once, when the pull is about to return (`status`: its result), if OnPlanned was called.
  // Implementations stop using `reread` before they return; on success they may first wait
  // until they no longer need it (the pull returns after this call).
  virtual void OnPullEnding(const core::Status& status) = 0;
};

struct PullOptions {
  std::filesystem::path cache_root;   // the models land in cache_root/<bucket>/<prefix>/
  storage::TransferOptions transfer;  // concurrency, progress callbacks, cancel
  bool verify_hashes = true;          // sha256 from the manifest when present
  // Optional, for loading while the pull runs (component_gate.h). Components are the first path
  // segment of each file ("unet", "vae", ...; "" for top-level files). on_components_planned is
  // called once with all of them; on_component_ready once per component whose files are all
  // in place under their final names (reused, or downloaded and verified), possibly from a
  // transfer worker thread. Downloads go smallest component first and "unet" last.
  std::function<void(const std::vector<std::string>& components)> on_components_planned;
  std::function<void(const std::string& component)> on_component_ready;
  // Optional (not owned): sees the plan and every byte as it arrives (PullObserver).
  PullObserver* observer = nullptr;
  // With an observer: weight files the cache's disk cannot hold are not cached, instead of
  // failing the pull (a warning says so; stats count them; the folder stays incomplete, so the
  // next pull fetches them again). Less free space than the whole download needs, checked up
  // front: no weights are downloaded to disk; the observer reads them from the bucket when it
  // needs them (OnFileNotDownloaded). ENOSPC/EDQUOT while writing: the file's download goes on
  // for the observer only, verified in flight (OnFileNotCached). Small files must still fit, and
  // so must weights whose hashes can only be checked on disk (no chunk hashes in the
  // manifest). Components with such files are never reported by on_component_ready.
  bool continue_without_cache = false;
};

struct PulledModel {
  std::filesystem::path dir;  // holds model_index.json; pass it to Engine::LoadPipeline
  PullTimings timings;
  PullStats stats;
  bool had_manifest = false;  // the model carried sdxl-tigris-manifest.json
  // Every file of the model, relative to `dir` ("unet/config.json"), whether it is in the folder
  // or was not cached (a full disk): what the model holds, for checks like generate --variant.
  std::vector<std::string> files;
};

// Brings bucket/prefix into the cache and returns the folder, ready for Engine::LoadPipeline.
core::Result<PulledModel> PullModel(storage::ObjectStore& store, const ModelRef& ref,
                                    const PullOptions& options);

// MODEL_CACHE_DIR, else $XDG_CACHE_HOME/sdxl-tigris/models, else $HOME/.cache/sdxl-tigris/models.
std::filesystem::path DefaultCacheRoot(const core::Environment& env);

// The folder a model is cached in: cache_root/<bucket>/<prefix> (cache_root/<bucket> for an empty
// prefix).
std::filesystem::path ModelCacheDir(const std::filesystem::path& cache_root, const ModelRef& ref);

// True when `dir` is a cache folder a pull started (it has cache bookkeeping) but did not finish.
bool IsIncompleteCacheDir(const std::filesystem::path& dir);

}  // namespace sdxl::loader
