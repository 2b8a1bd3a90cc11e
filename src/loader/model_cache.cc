#include "loader/model_cache.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "core/byte_range.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "loader/cache_lock.h"
#include "loader/cache_state.h"
#include "storage/local_object_store.h"
#include "weights/manifest.h"
#include "weights/safetensors.h"

namespace sdxl::loader {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

constexpr std::string_view kModelIndex = "model_index.json";
// prepare-model's upload journal (src/prepare/prepare.cc): present while an upload runs or after
// one was interrupted; the manifest replaces it when the upload completes.
constexpr std::string_view kUploadJournal = ".sdxl-tigris-upload.json";
// A downloaded file waiting for its SHA-256 check, next to its final name.
constexpr std::string_view kUnverifiedSuffix = ".sdxl-unverified";

// One file of the model as the bucket has it.
struct Want {
  std::string rel;             // relative path in the model (and in the cache folder)
  storage::ObjectInfo object;  // full key, size, ETag
  std::string sha256;          // expected digest (manifest); empty without a manifest
};

// What the bucket holds under the model's prefix.
struct Remote {
  std::map<std::string, storage::ObjectInfo> objects;  // relative path -> listing entry
  std::optional<weights::Manifest> manifest;
  std::string manifest_json;  // the manifest's bytes, copied into the cache folder
};

core::Result<Remote> ReadRemote(storage::ObjectStore& store, const ModelRef& ref) {
  const std::string uri = ToUri(ref);
  const std::string base = ref.prefix.empty() ? "" : ref.prefix + "/";
  auto listing = store.List(base);
  if (!listing.ok()) {
    if (listing.status().service_code() == "NoSuchBucket") {
      return core::NotFound("s3://" + ref.bucket +
                            ": bucket does not exist; check the bucket name (in the URL or "
                            "MODEL_BUCKET_NAME) and the endpoint (AWS_ENDPOINT_URL_S3 or "
                            "--endpoint-url)");
    }
    return listing.status();
  }
  std::vector<storage::ObjectInfo> listed = std::move(*listing);
  Remote remote;
  for (auto& o : listed) {
    if (o.key.ends_with('/') || o.key.size() <= base.size()) continue;  // "folder" markers
    std::string rel = o.key.substr(base.size());
    if (IsCacheBookkeepingName(rel)) continue;
    if (rel.find(storage::kTempMarker) != std::string::npos) continue;
    remote.objects.emplace(std::move(rel), std::move(o));
  }
  if (remote.objects.empty()) {
    return core::NotFound("nothing under " + uri +
                          "/: check the bucket and path (MODEL_PATH); `sdxl-tigris ls s3://" +
                          ref.bucket + "/` lists what exists");
  }
  const auto m = remote.objects.find(std::string(weights::kManifestFileName));
  if (m != remote.objects.end()) {
    storage::ReadOptions ro;
    ro.if_match = m->second.etag;
    auto text = store.GetObject(m->second.key, ro);
    if (!text.ok()) return text.status().Annotate("reading " + uri + "/" + m->first);
    auto parsed = weights::ParseManifest(*text);
    if (!parsed.ok()) {
      return core::DataLoss(uri + "/" + m->first + " is not a valid manifest (" +
                            parsed.status().message() + "); rerun prepare-model to rewrite it");
    }
    remote.manifest = std::move(*parsed);
    remote.manifest_json = std::move(*text);
  } else if (remote.objects.count(std::string(kUploadJournal))) {
    return core::FailedPrecondition(
        uri +
        " is being uploaded by prepare-model, or its upload was interrupted (an upload "
        "journal but no manifest yet); wait for it to finish or rerun prepare-model");
  }
  const bool has_index = remote.manifest ? remote.manifest->Find(kModelIndex) != nullptr
                                         : remote.objects.count(std::string(kModelIndex)) > 0;
  if (!has_index) {
    std::string hint =
        "; point the URL (or MODEL_PATH) at the folder that holds model_index.json, as "
        "prepare-model printed it";
    std::string best;
    for (const auto& [rel, o] : remote.objects) {
      if (rel.ends_with("/" + std::string(kModelIndex)) &&
          (best.empty() || rel.size() < best.size()))
        best = rel;
    }
    if (!best.empty()) {
      hint = "; did you mean " + uri + "/" + best.substr(0, best.size() - kModelIndex.size() - 1) +
             "?";
    }
    return core::NotFound(uri + " holds no model_index.json, so it is not a diffusers pipeline" +
                          hint);
  }
  return remote;
}

core::Result<std::vector<Want>> PlanWants(const Remote& remote, const std::string& uri) {
  std::vector<Want> wants;
  if (remote.manifest) {
    for (const auto& e : remote.manifest->files) {
      const auto it = remote.objects.find(e.path);
      if (it == remote.objects.end()) {
        return core::DataLoss(uri + "/" + e.path +
                              " is in the manifest but not in the bucket: the upload is "
                              "incomplete; rerun prepare-model");
      }
      if (it->second.size != e.size) {
        return core::DataLoss(uri + "/" + e.path + " is " + std::to_string(it->second.size) +
                              " bytes in the bucket but the manifest says " +
                              std::to_string(e.size) +
                              ": the bucket copy is damaged or was replaced; rerun prepare-model");
      }
      wants.push_back({e.path, it->second, e.sha256});
    }
    return wants;
  }
  for (const auto& [rel, o] : remote.objects) {
    if (!weights::IsSafeManifestPath(rel)) {
      return core::InvalidArgument("object " + uri + "/" + rel +
                                   " would escape or collapse the cache folder; refusing to pull "
                                   "it (rename it in the bucket)");
    }
    wants.push_back({rel, o, ""});
  }
  return wants;
}

CacheState LoadState(const fs::path& dir, const std::string& uri) {
  CacheState empty;
  empty.source = uri;
  auto text = core::ReadFile(dir / kCacheStateFileName, 64ull << 20);
  if (!text.ok()) return empty;
  auto state = ParseCacheState(*text);
  if (!state.ok() || state->source != uri) {
    spdlog::warn("cache state in {} is unreadable; cached files will be checked again",
                 dir.string());
    return empty;
  }
  return std::move(*state);
}

fs::path UnverifiedPath(const fs::path& final_path) {
  return final_path.parent_path() /
         ("." + final_path.filename().string() + std::string(kUnverifiedSuffix));
}

// Deletes what interrupted pulls left in the folders the model's files live in: transfer temp
// files and downloads that were never verified. Only called with the lock held.
void RemoveLeftovers(const fs::path& dir, const std::vector<Want>& wants) {
  std::set<fs::path> folders{dir};
  for (const auto& w : wants) folders.insert((dir / w.rel).parent_path());
  for (const auto& folder : folders) {
    std::error_code ec;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find(storage::kTempMarker) != std::string::npos ||
          (name.starts_with('.') && name.ends_with(kUnverifiedSuffix))) {
        std::error_code rm;
        fs::remove(it->path(), rm);
      }
    }
  }
}

// Bytes an unprivileged writer may still use on the file system of `dir` (nullopt: unknown).
std::optional<std::uint64_t> FreeBytes(const fs::path& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

core::Status NoSpaceError(const fs::path& dir, std::uint64_t needed, std::uint64_t avail) {
  return core::Status(core::Code::kResourceExhausted,
                      "not enough disk space in " + dir.string() + ": the model needs " +
                          core::FormatBytes(static_cast<double>(needed)) + " more, " +
                          core::FormatBytes(static_cast<double>(avail)) +
                          " is free; free some space or point MODEL_CACHE_DIR (--cache) at a "
                          "larger disk");
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

}  // namespace

namespace {

// The component folder of a file: its first path segment ("" for top-level files).
std::string ComponentOf(const std::string& rel) {
  const auto slash = rel.find('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

// Download order: what the engine reads first comes first, the UNet (most bytes) last.
int ComponentRank(const std::string& component) {
  static const char* const kOrder[] = {
      "", "scheduler", "tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "vae", "unet"};
  for (int i = 0; i < 8; ++i) {
    if (component == kOrder[i]) return i;
  }
  return 7;  // unknown folders: last, with the UNet
}

bool IsWeightsFile(const std::string& rel) { return rel.ends_with(".safetensors"); }

// The safetensors header of an object not yet downloaded: two ranged GETs (length, then JSON).
core::Result<weights::SafetensorsHeader> ReadRemoteHeader(storage::ObjectStore& store,
                                                          const storage::ObjectInfo& object,
                                                          const std::string& uri) {
  storage::ReadOptions ro;
  ro.if_match = object.etag;
  const std::string where = uri + "/" + object.key;
  if (object.size < 8) return core::DataLoss(where + " is too short to be a safetensors file");
  std::string prefix(8, '\0');
  SDXL_RETURN_IF_ERROR(store.ReadRange(object.key, 0, prefix, ro));
  auto n = weights::ReadSafetensorsHeaderSize(std::as_bytes(std::span(prefix)));
  if (!n.ok()) return n.status().Annotate(store.DescribeKey(object.key));
  if (*n > object.size - 8) {
    return core::DataLoss(store.DescribeKey(object.key) +
                          ": the safetensors header is longer than the object");
  }
  std::string bytes(8 + *n, '\0');
  std::copy(prefix.begin(), prefix.end(), bytes.begin());
  SDXL_RETURN_IF_ERROR(store.ReadRange(object.key, 8, std::span<char>(bytes.data() + 8, *n), ro));
  auto header = weights::ParseSafetensorsHeader(std::as_bytes(std::span(bytes)), object.size);
  if (!header.ok()) return header.status().Annotate(store.DescribeKey(object.key));
  return header;
}

// In-flight verification of one downloading file against the manifest's chunk hashes. Each
// chunk lies inside one download range (the range size is a multiple of the chunk size), whose
// bytes arrive in order on one worker, so chunk c's hasher is only ever touched by that worker.
struct ChunkCheck {
  const weights::FileEntry* entry = nullptr;
  std::vector<std::unique_ptr<core::Xxh3_64>> hashers;
  std::vector<std::uint64_t> hashed;
  std::atomic<std::uint64_t> verified{0};

  explicit ChunkCheck(const weights::FileEntry& e)
      : entry(&e), hashers(e.num_chunks()), hashed(e.num_chunks(), 0) {}

  bool complete() const { return verified.load() == entry->num_chunks(); }

  core::Status Add(std::uint64_t offset, std::span<const std::byte> bytes, const std::string& uri) {
    while (!bytes.empty()) {
      const std::uint64_t c = offset / entry->chunk_size;
      if (c >= hashers.size()) return core::DataLoss(uri + ": more bytes than the manifest says");
      const core::ByteRange r = entry->ChunkRange(c);
      const std::uint64_t n = std::min<std::uint64_t>(bytes.size(), r.end() - offset);
      if (!hashers[c]) hashers[c] = std::make_unique<core::Xxh3_64>();
      hashers[c]->Update(bytes.first(n));
      hashed[c] += n;
      if (hashed[c] == r.length) {
        const std::uint64_t got = hashers[c]->Finish();
        hashers[c].reset();
        if (got != entry->chunk_xxh3[c]) {
          return core::DataLoss(uri + ": the chunk at bytes " + std::to_string(r.offset) + "-" +
                                std::to_string(r.end()) +
                                " does not match the manifest's XXH3: the object is corrupt "
                                "in the bucket or changed during download; rerun (if it "
                                "persists, rerun prepare-model)");
        }
        verified.fetch_add(1);
      }
      offset += n;
      bytes = bytes.subspan(n);
    }
    return core::Status::Ok();
  }
};

// What a pull's observer may read again (RereadRange). Owned by PullModel's outer frame, so it
// outlives the observer's last use (OnPullEnding).
struct RereadTargets {
  struct Target {
    storage::ObjectInfo object;
    std::optional<weights::FileEntry> entry;  // with the manifest: its chunk hashes
  };
  std::map<std::string, Target> by_rel;
  bool planned = false;  // OnPlanned was called
};

core::Status Reread(storage::ObjectStore& store, const RereadTargets& targets,
                    const std::string& uri, const std::string& rel, std::uint64_t offset,
                    std::span<char> out) {
  const auto it = targets.by_rel.find(rel);
  if (it == targets.by_rel.end()) return core::Internal(uri + "/" + rel + " is not in the plan");
  const auto& [object, entry] = it->second;
  const std::uint64_t end = offset + out.size();
  if (end < offset || end > object.size) {
    return core::Internal(uri + "/" + rel + ": reread past the end of the object");
  }
  storage::ReadOptions ro;
  ro.if_match = object.etag;
  const bool chunked = entry && entry->chunk_size > 0 &&
                       entry->num_chunks() == weights::NumChunks(entry->size, entry->chunk_size);
  if (!chunked) {
    return store.ReadRange(object.key, offset, out, ro);  // checked by If-Match only (no manifest)
  }
  // Whole chunks, each checked against the manifest; the asked part of each is copied out.
  std::string chunk;
  for (std::uint64_t c = offset / entry->chunk_size; out.size() > 0 && c < entry->num_chunks();
       ++c) {
    const core::ByteRange r = entry->ChunkRange(c);
    if (r.offset >= end) break;
    chunk.resize(r.length);
    SDXL_RETURN_IF_ERROR(store.ReadRange(object.key, r.offset, std::span<char>(chunk), ro));
    if (core::Xxh3_64Of(std::string_view(chunk)) != entry->chunk_xxh3[c]) {
      return core::DataLoss(uri + "/" + rel + ": the chunk at bytes " + std::to_string(r.offset) +
                            "-" + std::to_string(r.end()) +
                            " does not match the manifest's XXH3 when read again: the object is "
                            "corrupt in the bucket; rerun prepare-model");
    }
    const std::uint64_t from = std::max(offset, r.offset), to = std::min(end, r.end());
    std::copy(chunk.data() + (from - r.offset), chunk.data() + (to - r.offset),
              out.data() + (from - offset));
  }
  return core::Status::Ok();
}

core::Result<PulledModel> PullModelImpl(storage::ObjectStore& store, const ModelRef& ref,
                                        const PullOptions& options, RereadTargets& reread);

}  // namespace

fs::path DefaultCacheRoot(const core::Environment& env) {
  if (auto dir = env.Get("MODEL_CACHE_DIR")) return fs::path(*dir);
  if (auto xdg = env.Get("XDG_CACHE_HOME")) return fs::path(*xdg) / "sdxl-tigris" / "models";
  return fs::path(env.Home()) / ".cache" / "sdxl-tigris" / "models";
}

fs::path ModelCacheDir(const fs::path& cache_root, const ModelRef& ref) {
  fs::path dir = cache_root / ref.bucket;
  if (!ref.prefix.empty()) dir /= ref.prefix;
  return dir;
}

bool IsIncompleteCacheDir(const fs::path& dir) {
  return Exists(dir / kCacheStateFileName) && !Exists(dir / kCompleteMarkerName);
}

core::Result<PulledModel> PullModel(storage::ObjectStore& store, const ModelRef& ref,
                                    const PullOptions& options) {
  RereadTargets reread;
  auto result = PullModelImpl(store, ref, options, reread);
  if (options.observer != nullptr && reread.planned) {
    options.observer->OnPullEnding(result.ok() ? core::Status::Ok() : result.status());
  }
  return result;
}

namespace {

core::Result<PulledModel> PullModelImpl(storage::ObjectStore& store, const ModelRef& ref,
                                        const PullOptions& options, RereadTargets& reread) {
  const auto t_start = Clock::now();
  SDXL_RETURN_IF_ERROR(ValidateModelRef(ref));
  if (options.cache_root.empty()) {
    return core::InvalidArgument("no cache folder given; set MODEL_CACHE_DIR or pass --cache");
  }
  const std::string uri = ToUri(ref);
  std::error_code ec;
  const fs::path dir = fs::absolute(ModelCacheDir(options.cache_root, ref), ec);
  if (ec) return core::ErrnoStatus("cannot resolve " + options.cache_root.string(), ec.value());
  const fs::path lock_path = dir.parent_path() / (dir.filename().string() + ".lock");
  PulledModel result;
  result.dir = dir;
  // 1. What the bucket holds. Read before taking the lock, so that a wrong bucket or path leaves
  // nothing behind in the cache; read again if another pull made us wait (it may have taken long).
  auto t_list = Clock::now();
  SDXL_ASSIGN_OR_RETURN(Remote remote, ReadRemote(store, ref));
  result.timings.list_s = Since(t_list);
  bool waited = false;
  const auto on_wait = [&] {
    waited = true;
    spdlog::info("another process is pulling {} into {}; waiting for it", uri, dir.string());
  };
  SDXL_ASSIGN_OR_RETURN(CacheLock lock,
                        CacheLock::Acquire(lock_path, options.transfer.cancel, on_wait));
  if (waited) {
    t_list = Clock::now();
    SDXL_ASSIGN_OR_RETURN(remote, ReadRemote(store, ref));
    result.timings.list_s += Since(t_list);
  }
  result.had_manifest = remote.manifest.has_value();

  // 2. What the cache can keep.
  const auto t_plan = Clock::now();
  SDXL_ASSIGN_OR_RETURN(std::vector<Want> wants, PlanWants(remote, uri));
  for (const auto& w : wants) result.files.push_back(w.rel);
  fs::create_directories(dir, ec);
  if (ec) {
    return core::ErrnoStatus("cannot create the cache folder " + dir.string() +
                                 " (set MODEL_CACHE_DIR or --cache to a writable folder)",
                             ec.value());
  }
  CacheState state = LoadState(dir, uri);
  const bool verify = options.verify_hashes && remote.manifest.has_value();
  enum class Action { kDownload, kReuse, kHash };
  std::vector<Action> actions(wants.size(), Action::kDownload);
  std::vector<FileStamp> stamps(wants.size());
  for (std::size_t i = 0; i < wants.size(); ++i) {
    const Want& w = wants[i];
    SDXL_ASSIGN_OR_RETURN(std::optional<FileStamp> stamp, StampOf(dir / w.rel));
    if (!stamp || stamp->size != w.object.size) continue;
    stamps[i] = *stamp;
    const auto rec = state.files.find(w.rel);
    const bool same_file = rec != state.files.end() && rec->second.stamp == *stamp &&
                           rec->second.size == w.object.size;
    // With a manifest: verified against this very digest before (or, when verification is off,
    // downloaded from the same object version). Without one: the same object version.
    const bool verified = !w.sha256.empty() && same_file && rec->second.sha256 == w.sha256;
    const bool same_version = same_file && rec->second.etag == w.object.etag;
    if (remote.manifest ? (verified || (!verify && same_version)) : same_version) {
      actions[i] = Action::kReuse;
    } else if (verify) {
      actions[i] = Action::kHash;  // e.g. written by an interrupted pull, or touched since
    }
  }
  bool state_changed = false;
  {
    std::vector<std::size_t> to_hash;
    for (std::size_t i = 0; i < wants.size(); ++i) {
      if (actions[i] == Action::kHash) to_hash.push_back(i);
    }
    std::vector<core::Result<std::string>> digests(to_hash.size(), core::Internal("not hashed"));
    const std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
    core::ParallelFor(to_hash.size(), threads, [&](std::size_t k) {
      digests[k] = core::Sha256FileHex((dir / wants[to_hash[k]].rel).string());
    });
    for (std::size_t k = 0; k < to_hash.size(); ++k) {
      const std::size_t i = to_hash[k];
      if (digests[k].ok() && *digests[k] == wants[i].sha256) {
        actions[i] = Action::kReuse;
        state.files[wants[i].rel] = {wants[i].object.size, wants[i].object.etag, wants[i].sha256,
                                     stamps[i]};
        state_changed = true;
      } else {
        actions[i] = Action::kDownload;
        spdlog::debug("{}: cached copy does not match the manifest; fetching it again",
                      wants[i].rel);
      }
    }
  }
  std::set<std::string> wanted;
  for (const auto& w : wants) wanted.insert(w.rel);
  std::vector<std::string> stale;  // files of an older version of the model
  for (const auto& [rel, rec] : state.files) {
    if (!wanted.count(rel) && weights::IsSafeManifestPath(rel)) stale.push_back(rel);
  }
  const fs::path manifest_copy = dir / std::string(weights::kManifestFileName);
  bool manifest_copy_current;
  if (remote.manifest) {
    auto cached = core::ReadFile(manifest_copy, 256ull << 20);
    manifest_copy_current = cached.ok() && *cached == remote.manifest_json;
  } else {
    manifest_copy_current = !Exists(manifest_copy);
  }
  std::vector<std::size_t> downloads;
  std::uint64_t download_bytes = 0;
  for (std::size_t i = 0; i < wants.size(); ++i) {
    if (actions[i] == Action::kReuse) {
      ++result.stats.files_reused;
      result.stats.bytes_reused += wants[i].object.size;
    } else {
      downloads.push_back(i);
      download_bytes += wants[i].object.size;
    }
  }
  const fs::path marker = dir / kCompleteMarkerName;
  const bool need_work = !downloads.empty() || !stale.empty() || state_changed ||
                         !manifest_copy_current || !Exists(marker);
  // What the observer is told: every file, whether it is cached, and the safetensors headers.
  const auto planned_files = [&]() -> core::Result<std::vector<PlannedFile>> {
    std::vector<PlannedFile> files(wants.size());
    std::vector<std::size_t> remote_headers;
    for (std::size_t i = 0; i < wants.size(); ++i) {
      files[i].rel = wants[i].rel;
      files[i].size = wants[i].object.size;
      files[i].cached = actions[i] == Action::kReuse;
      if (!IsWeightsFile(wants[i].rel)) continue;
      const weights::FileEntry* e = remote.manifest ? remote.manifest->Find(wants[i].rel) : nullptr;
      if (e != nullptr && e->safetensors) {
        files[i].header = *e->safetensors;
      } else if (!files[i].cached) {
        remote_headers.push_back(i);
      }
    }
    std::vector<core::Status> errors(remote_headers.size());
    core::ParallelFor(remote_headers.size(), 8, [&](std::size_t k) {
      const std::size_t i = remote_headers[k];
      auto h = ReadRemoteHeader(store, wants[i].object, uri);
      if (h.ok()) {
        files[i].header = std::move(*h);
      } else {
        errors[k] = h.status();
      }
    });
    for (const auto& e : errors) SDXL_RETURN_IF_ERROR(e);
    return files;
  };
  // The observer's view of the plan, with a way to read any file's bytes again.
  const RereadRange reread_fn = [&store, &reread, uri](const std::string& rel, std::uint64_t offset,
                                                       std::span<char> out) {
    return Reread(store, reread, uri, rel, offset, out);
  };
  const auto tell_observer = [&]() -> core::Status {
    SDXL_ASSIGN_OR_RETURN(auto files, planned_files());
    for (const auto& w : wants) {
      const weights::FileEntry* e = remote.manifest ? remote.manifest->Find(w.rel) : nullptr;
      reread.by_rel[w.rel] = {w.object, e ? std::optional<weights::FileEntry>(*e) : std::nullopt};
    }
    reread.planned = true;
    options.observer->OnPlanned(dir, files, reread_fn);
    return core::Status::Ok();
  };
  if (!need_work) {
    if (options.observer) SDXL_RETURN_IF_ERROR(tell_observer());
    result.timings.plan_s = Since(t_plan);
    result.timings.total_s = Since(t_start);
    return result;
  }
  // From here on the folder changes: it is not ready until the marker is written again.
  if (::unlink(marker.c_str()) != 0 && errno != ENOENT) {
    return core::ErrnoStatus("cannot update the cache folder " + dir.string(), errno);
  }
  RemoveLeftovers(dir, wants);
  // Files of an older version, and cached copies about to be replaced (outdated, damaged or
  // unverified): none of them may sit under a final name while the folder is being updated.
  for (const std::size_t i : downloads) stale.push_back(wants[i].rel);
  for (const auto& rel : stale) {
    std::error_code rm;
    fs::remove(dir / rel, rm);
    if (rm) return core::ErrnoStatus("cannot remove " + (dir / rel).string(), rm.value());
    if (state.files.erase(rel) > 0) state_changed = true;
  }
  std::mutex state_mu;  // guards `state` and its file from here on
  if (state_changed) {
    SDXL_RETURN_IF_ERROR(
        core::WriteFileAtomically(dir / kCacheStateFileName, CacheStateToJson(state)));
  }
  result.timings.plan_s = Since(t_plan);

  // Components: which are complete already, and how many files each still waits for.
  std::map<std::string, int> pending;  // guarded by state_mu once downloads run
  for (const auto& w : wants) pending[ComponentOf(w.rel)];
  for (const std::size_t i : downloads) ++pending[ComponentOf(wants[i].rel)];
  if (options.on_components_planned) {
    std::vector<std::string> components;
    for (const auto& [c, n] : pending) components.push_back(c);
    options.on_components_planned(components);
  }
  if (options.on_component_ready) {
    for (const auto& [c, n] : pending) {
      if (n == 0) options.on_component_ready(c);
    }
  }
  // Small files (configs, tokenizers) first, so every component can start loading; then the
  // weights in the engine's order.
  std::stable_sort(downloads.begin(), downloads.end(), [&](std::size_t a, std::size_t b) {
    const auto key = [&](std::size_t i) {
      return std::make_pair(IsWeightsFile(wants[i].rel), ComponentRank(ComponentOf(wants[i].rel)));
    };
    return key(a) < key(b);
  });
  if (options.observer) SDXL_RETURN_IF_ERROR(tell_observer());

  // 3. Downloads, each file verified as it lands.
  const auto t_transfer = Clock::now();
  if (!downloads.empty()) {
    storage::TransferOptions topts = options.transfer;
    // Chunks are verified in flight when each one falls inside one download range.
    std::map<std::string, std::unique_ptr<ChunkCheck>> checks;  // by key; fixed before the run
    if (verify) {
      std::uint64_t chunk = 0;
      for (const auto& e : remote.manifest->files) chunk = std::max(chunk, e.chunk_size);
      if (chunk > 0 && topts.range_size % chunk != 0) {
        topts.range_size = std::max<std::uint64_t>(1, topts.range_size / chunk) * chunk;
      }
      for (const std::size_t i : downloads) {
        const weights::FileEntry* e = remote.manifest->Find(wants[i].rel);
        if (e != nullptr && e->chunk_size > 0 && topts.range_size % e->chunk_size == 0 &&
            e->num_chunks() == weights::NumChunks(e->size, e->chunk_size)) {
          checks.emplace(wants[i].object.key, std::make_unique<ChunkCheck>(*e));
        }
      }
    }
    // Weights the observer can take without a cached copy (continue_without_cache): verified in
    // flight, or not verifiable at all (no manifest, --no-verify).
    const auto may_skip_cache = [&](std::size_t i) {
      return options.continue_without_cache && options.observer != nullptr &&
             IsWeightsFile(wants[i].rel) && (!verify || checks.count(wants[i].object.key) > 0);
    };
    std::set<std::size_t> not_cached;  // want indexes received for the observer only (state_mu)
    bool warned_disk_full = false;     // state_mu
    const std::optional<std::uint64_t> free_bytes = FreeBytes(dir);
    if (free_bytes && *free_bytes < download_bytes) {
      std::uint64_t must_fit = 0, weights_bytes = 0;
      for (const std::size_t i : downloads) {
        (may_skip_cache(i) ? weights_bytes : must_fit) += wants[i].object.size;
      }
      if (!options.continue_without_cache || options.observer == nullptr ||
          *free_bytes < must_fit) {
        return NoSpaceError(dir, download_bytes, *free_bytes);
      }
      // Leave the disk alone: none of the weights is cached, rather than filling it to the brim.
      for (const std::size_t i : downloads) {
        if (may_skip_cache(i)) not_cached.insert(i);
      }
      warned_disk_full = true;
      spdlog::warn(
          "not enough disk space in {} to cache {} ({} needed, {} free): its weights ({}) "
          "are loaded from the network without caching them, and the next start "
          "downloads them again; free some space or point MODEL_CACHE_DIR (--cache) at "
          "a larger disk",
          dir.string(), uri, core::FormatBytes(static_cast<double>(download_bytes)),
          core::FormatBytes(static_cast<double>(*free_bytes)),
          core::FormatBytes(static_cast<double>(weights_bytes)));
    }
    std::vector<storage::DownloadJob> jobs;
    std::map<std::string, std::size_t> by_key;
    for (const std::size_t i : downloads) {
      if (not_cached.count(i)) {
        // Read by the observer from the bucket when it needs the bytes: downloaded once, and
        // never ahead of the engine (there is nowhere to keep bytes it did not ask for yet).
        ++result.stats.files_not_cached;
        result.stats.bytes_not_cached += wants[i].object.size;
        options.observer->OnFileNotDownloaded(wants[i].rel);
        continue;
      }
      const fs::path final_path = dir / wants[i].rel;
      jobs.push_back({wants[i].object, verify ? UnverifiedPath(final_path) : final_path});
      by_key.emplace(wants[i].object.key, i);
    }
    std::atomic<std::int64_t> verify_ns{0};
    topts.on_disk_full = [&](const storage::ObjectInfo& object, const core::Status& why) {
      const std::size_t i = by_key.at(object.key);
      if (!may_skip_cache(i)) return false;
      std::lock_guard<std::mutex> guard(state_mu);
      spdlog::debug("{}: {}", wants[i].rel, why.message());
      if (!warned_disk_full) {
        warned_disk_full = true;
        spdlog::warn(
            "the disk of {} filled up while caching {} (no room for {}): the weights "
            "that do not fit are loaded from the network without caching them, and the "
            "next start downloads them again; free some space or point MODEL_CACHE_DIR "
            "(--cache) at a larger disk",
            dir.string(), uri, wants[i].rel);
      }
      not_cached.insert(i);
      return true;
    };
    topts.on_data = [&](const storage::ObjectInfo& object, std::uint64_t offset,
                        std::span<const std::byte> bytes) -> core::Status {
      const Want& w = wants[by_key.at(object.key)];
      if (auto c = checks.find(object.key); c != checks.end()) {
        const auto t_hash = Clock::now();
        core::Status st = c->second->Add(offset, bytes, uri + "/" + w.rel);
        verify_ns +=
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t_hash).count();
        SDXL_RETURN_IF_ERROR(st);
      }
      if (options.observer) return options.observer->OnData(w.rel, offset, bytes);
      return core::Status::Ok();
    };
    topts.on_downloaded = [&](const storage::ObjectInfo& object,
                              const fs::path& file) -> core::Status {
      const Want& w = wants[by_key.at(object.key)];
      const fs::path final_path = dir / w.rel;
      const auto check = checks.find(object.key);
      if (verify && check != checks.end() && !check->second->complete()) {
        if (!file.empty()) ::unlink(file.c_str());
        return core::DataLoss(uri + "/" + w.rel + ": only " +
                              std::to_string(check->second->verified.load()) + " of " +
                              std::to_string(check->second->entry->num_chunks()) +
                              " chunks arrived verified; rerun");
      }
      if (file.empty()) {  // received for the observer only (may_skip_cache): nothing on disk
        {
          std::lock_guard<std::mutex> guard(state_mu);
          ++result.stats.files_not_cached;
          result.stats.bytes_not_cached += w.object.size;
        }
        options.observer->OnFileNotCached(w.rel);
        return core::Status::Ok();
      }
      if (verify) {
        if (check == checks.end()) {
          // Chunks could not be checked in flight: the whole file's SHA-256.
          const auto t_hash = Clock::now();
          auto digest = core::Sha256FileHex(file.string());
          verify_ns +=
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t_hash).count();
          if (!digest.ok() || *digest != w.sha256) {
            ::unlink(file.c_str());
            if (!digest.ok()) return digest.status().Annotate("verifying " + file.string());
            return core::DataLoss(uri + "/" + w.rel + ": SHA-256 " + *digest +
                                  " does not match the manifest's " + w.sha256 +
                                  ": the object is corrupt in the bucket or changed during "
                                  "download; rerun (if it persists, rerun prepare-model)");
          }
        }
        if (::rename(file.c_str(), final_path.c_str()) != 0) {
          const int err = errno;
          ::unlink(file.c_str());
          return core::ErrnoStatus("cannot rename " + file.string() + " to " + final_path.string(),
                                   err);
        }
      }
      auto stamp = StampOf(final_path);
      if (!stamp.ok()) return stamp.status();
      if (!stamp->has_value()) {
        return core::Internal(final_path.string() + " vanished right after its download");
      }
      std::lock_guard<std::mutex> guard(state_mu);
      // The digest is recorded only when it was checked: a later verifying pull re-hashes the
      // files an unverified one left.
      state.files[w.rel] = {w.object.size, w.object.etag, verify ? w.sha256 : "", **stamp};
      core::Status saved =
          core::WriteFileAtomically(dir / kCacheStateFileName, CacheStateToJson(state));
      // On a disk that filled up (continue_without_cache) the state is written again at the end;
      // until then a rerun re-hashes this file instead of trusting its stamp.
      if (!saved.ok() && !(core::IsNoSpace(saved) && options.continue_without_cache)) {
        return saved;
      }
      const std::string component = ComponentOf(w.rel);
      if (--pending[component] == 0 && options.on_component_ready) {
        options.on_component_ready(component);
      }
      if (options.observer) options.observer->OnFileReady(w.rel);
      return core::Status::Ok();
    };
    auto transferred = storage::DownloadObjects(store, std::move(jobs), topts);
    result.timings.verify_s = static_cast<double>(verify_ns.load()) / 1e9;
    result.timings.transfer_s = Since(t_transfer);
    if (!transferred.ok()) return transferred.status();
    result.stats.files_downloaded = static_cast<int>(downloads.size());
    result.stats.bytes_downloaded = download_bytes;
  }

  // 4. The manifest copy, the state, then the marker: the folder is ready. Not when a file could
  // not be cached: then no marker (and no manifest copy), so the next pull fetches what is missing.
  const bool complete = result.stats.files_not_cached == 0;
  const auto finish_folder = [&]() -> core::Status {
    if (remote.manifest) {
      if (!manifest_copy_current && complete) {
        SDXL_RETURN_IF_ERROR(core::WriteFileAtomically(manifest_copy, remote.manifest_json));
      }
    } else {
      std::error_code rm;
      fs::remove(manifest_copy, rm);
    }
    SDXL_RETURN_IF_ERROR(
        core::WriteFileAtomically(dir / kCacheStateFileName, CacheStateToJson(state)));
    if (!complete) return core::Status::Ok();
    const std::string done = nlohmann::json{{"source", uri},
                                            {"files", wants.size()},
                                            {"bytes", download_bytes + result.stats.bytes_reused}}
                                 .dump() +
                             "\n";
    return core::WriteFileAtomically(marker, done);
  };
  if (core::Status st = finish_folder(); !st.ok()) {
    // The files are all there (and went to the observer): a disk too full for the bookkeeping
    // only leaves the folder incomplete when the caller can do without the cache.
    if (!(options.continue_without_cache && core::IsNoSpace(st))) return st;
    spdlog::warn("{}: the cache folder {} is left incomplete; the next start checks it again",
                 st.message(), dir.string());
  }
  result.timings.total_s = Since(t_start);
  return result;
}

}  // namespace
}  // namespace sdxl::loader
