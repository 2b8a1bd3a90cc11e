#pragma once
// The phases of PrepareModel (prepare.h), one function each, in the order it runs them:
//   MakePlan        what to take from where (Hub listing or local folder, selection, recipe)
//   InspectBucket   what the destination already holds (manifest, objects)
//   FetchSources    download the selected files into the Hub cache (local folders: in place)
//   StageFiles      convert weights to the target dtype / rewrite JSON files into a staging folder
//   BuildManifest   hash every output file (SHA-256, chunk XXH3, tensor index)
//   SeedJournal + PlanUploads   which uploads an earlier run (journal, old model) already did
//   UploadFiles     upload the rest, journaling each finished file
//   PublishManifest write the manifest last (its presence means "complete"), drop the journal
// Each phase takes plain inputs and returns its result as a value, so it can be tested alone.
// Thread-safety: each call is independent; the phases parallelise internally (core::ParallelFor,
// first error stops the rest) and return the first error.

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/hub_client.h"
#include "prepare/prepare.h"
#include "prepare/selection.h"
#include "prepare/upload_journal.h"
#include "storage/object_store.h"
#include "weights/dtype.h"
#include "weights/manifest.h"

namespace sdxl::prepare {

// Everything decided before any byte moves.
struct Plan {
  std::string source_repo;  // repo id, or the absolute local folder
  std::string source_revision;
  nlohmann::json recipe;  // {"dtype", "name", ...}: part of the manifest
  Selection selection;
  bool local = false;
  std::filesystem::path local_root;
  std::map<std::string, std::string> commits;                              // origin repo -> commit
  std::map<std::string, std::map<std::string, hub::RepoFile>> repo_files;  // origin -> path -> file
};

// Every regular file under `root` (names starting with '.' and their folders skipped).
core::Result<Listing> WalkLocal(const std::filesystem::path& root);

// Resolves and lists the source (repo: through `hub`, which may be null for a local folder),
// selects the pipeline files and applies the recipe. InvalidArgument when the source is not an
// SDXL diffusers pipeline.
core::Result<Plan> MakePlan(const PrepareOptions& options, hub::HubClient* hub);

// The staging folder name for `plan`: a hash of the source, recipe and every selected file's
// identity (Hub ETag, or local size + mtime), so an interrupted run reuses finished conversions
// and a changed source gets a fresh folder.
std::string Fingerprint(const Plan& plan);

// What the destination holds before the run.
struct BucketState {
  std::optional<weights::Manifest> remote;  // its manifest (absent, or unreadable: replaced)
  std::map<std::string, storage::ObjectInfo> objects;  // key -> object

  // Whether the bucket holds a complete model of this source commit and recipe.
  bool HoldsModelOf(const std::string& source_repo, const std::string& source_revision,
                    const nlohmann::json& recipe) const;
  // Whether the bucket holds a complete model with exactly `manifest`'s files (and provenance).
  bool HoldsModel(const weights::Manifest& manifest) const;
};
core::Result<BucketState> InspectBucket(storage::ObjectStore& store);

// Local path of each selected file (in plan.selection.files order): downloaded through `hub`
// (up to min(jobs, 8) at a time) for a repo, the file itself for a local folder.
core::Result<std::vector<std::filesystem::path>> FetchSources(const Plan& plan, hub::HubClient* hub,
                                                              int jobs, bool progress);

// The dtype to convert weights to (none for DTypeChoice::kKeep).
std::optional<weights::DType> TargetDType(DTypeChoice choice);

// The file to upload for each selected file: configs as fetched; shard indexes and the
// Lightning scheduler rewritten into `staging`; weights converted to `target` into `staging`
// (reused when an earlier run finished them), or as fetched when already in that dtype or when
// `target` is empty.
core::Result<std::vector<std::filesystem::path>> StageFiles(
    const Plan& plan, const std::vector<std::filesystem::path>& sources,
    const std::filesystem::path& staging, std::optional<weights::DType> target, bool progress);

// The manifest of the outputs (entries in plan.selection.files order, named by dest_path).
core::Result<weights::Manifest> BuildManifest(const Plan& plan,
                                              const std::vector<std::filesystem::path>& outputs,
                                              bool progress);

// `stored` (the journal of an interrupted run) plus the files of the previous complete model
// that are in the bucket with the same content: all count as uploaded.
Journal SeedJournal(Journal stored, const weights::Manifest& manifest, const BucketState& bucket);

struct UploadPlan {
  std::vector<size_t> todo;  // indices into manifest.files still to upload
  uint64_t reused = 0;       // files the journal proves are in the bucket already
};
// Splits the manifest's files into done (journaled with the same SHA-256, size and an ETag the
// bucket still shows) and to do; drops the journal entries that are not part of `manifest`.
UploadPlan PlanUploads(const weights::Manifest& manifest,
                       const std::map<std::string, storage::ObjectInfo>& objects, Journal& journal);

// Uploads manifest.files[i] from outputs[i] for each i in `todo`: big files one after another
// with `jobs` parallel parts, small ones `jobs` side by side. Checks each object's size after the
// upload, records it in `journal` and saves the journal after every big file and every 4th small
// one. Returns the bytes uploaded.
core::Result<uint64_t> UploadFiles(storage::ObjectStore& store, const weights::Manifest& manifest,
                                   const std::vector<std::filesystem::path>& outputs,
                                   const std::vector<size_t>& todo, Journal& journal, int jobs,
                                   bool progress);

// Writes the manifest (the model is complete from then on), deletes the journal, and warns about
// objects in `objects` that are not part of the model.
core::Status PublishManifest(storage::ObjectStore& store, const weights::Manifest& manifest,
                             const std::map<std::string, storage::ObjectInfo>& objects);

}  // namespace sdxl::prepare
