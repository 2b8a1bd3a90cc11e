#pragma once
// PrepareModel: the library behind `sdxl-tigris prepare-model SOURCE BUCKET`.
//
// Turns a Hugging Face repo (any SDXL diffusers repo, or ByteDance/SDXL-Lightning with the seed's
// recipe) or a local diffusers folder into a servable pipeline under <MODEL_PATH>/ in a bucket:
//   1. resolve the revision and list the repo (or walk the folder); select the pipeline files
//      (selection.h) and apply the recipe (recipe.h);
//   2. download them into the huggingface_hub cache (resumable, verified);
//   3. convert safetensors weights to the target dtype, streamed with bounded memory, into a
//      staging folder keyed by the plan (so an interrupted run reuses finished files);
//   4. hash every output file (manifest entries), then upload what the bucket does not already
//      hold: an upload journal object (.sdxl-tigris-upload.json) records each finished upload
//      with its SHA-256 and ETag, so a rerun after kill -9 skips exactly those files; objects are
//      only ever created whole (single PUT or completed multipart upload);
//   5. write sdxl-tigris-manifest.json LAST (its presence means "complete") and drop the journal.
// A rerun on a complete model (same source commit, recipe and dtype) uploads nothing.
// Each step is a function of its own in prepare_phases.h; the journal is upload_journal.h (a
// corrupt journal is reported with a warning and ignored: the upload starts over).
//
// Thread-safety: one PrepareModel call at a time per destination; internally parallel.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "hub/hub_client.h"
#include "storage/object_store.h"
#include "weights/dtype.h"

namespace sdxl::prepare {

enum class DTypeChoice { kBf16, kFp16, kKeep };
core::Result<DTypeChoice> ParseDTypeChoice(std::string_view text);
std::string_view DTypeChoiceName(DTypeChoice d);

struct PrepareOptions {
  std::string source;             // repo id, or a local folder (path or file://)
  std::string bucket;             // bucket, s3://bucket[/prefix], path or file://
  std::string revision = "main";  // of the source repo
  DTypeChoice dtype = DTypeChoice::kBf16;
  std::optional<std::string> model_path;  // default: the repo id (local: the folder name)
  int lightning_steps = 4;
  int jobs = 16;                   // parallel downloads / upload requests
  std::filesystem::path work_dir;  // staging for converted files (required)
  bool progress = true;            // progress lines on stderr
};

struct PrepareResult {
  std::string model_path;
  std::string destination;    // e.g. "s3://bucket/ByteDance/SDXL-Lightning"
  bool was_complete = false;  // the bucket already held this exact model: nothing uploaded
  uint64_t files = 0;
  uint64_t bytes = 0;  // total size of the model
  uint64_t files_uploaded = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t files_reused = 0;    // already in the bucket from an earlier (interrupted) run
  std::string source_revision;  // resolved commit ("" for local folders)
  std::string recipe_name;
};

// Whether SOURCE names a local folder (exists, or starts with '/', './', '../', '~' or file://).
bool IsLocalSource(std::string_view source);

// How prepare-model reads BUCKET. A bare name is always a bucket on the configured endpoint,
// even when a folder of that name exists in the working directory. "s3://bucket[/prefix]" is a
// bucket (and key prefix). A local store is written explicitly: "file://PATH", or a path that
// starts with '/', "./", "../" or '~' (or is "." / ".."). Refused, with the spelling to use:
// "name/sub" (a bucket prefix or a relative folder?), other schemes, and bare names that no S3
// bucket can have (3-63 characters of a-z, 0-9, '.', '-', starting and ending with a letter or
// digit).
core::Result<storage::Location> ParseDestination(std::string_view bucket);

// Whether `value` can be written unquoted in the environment block, with the same meaning for
// sh (`set -a; . FILE`), docker --env-file, `fly secrets import` and dotenv readers: letters,
// digits and _ . / : @ % + , = - only (non-empty).
bool IsEnvSafe(std::string_view value);

// The store root for BUCKET (read by ParseDestination) + MODEL_PATH:
// "s3://bucket/<prefix/>model_path" or "file:///abs/model_path". MODEL_PATH must be a key prefix
// made of IsEnvSafe characters (it goes into the printed environment block).
core::Result<std::string> ModelLocation(std::string_view bucket, std::string_view model_path);

// Opens the destination store for a location string (ModelLocation's "s3://bucket/prefix" or
// "file:///path"); the store it returns is rooted there (keys are relative to MODEL_PATH). The CLI
// implements it with its S3 configuration; tests open local stores.
class ModelStoreOpener {
 public:
  virtual ~ModelStoreOpener() = default;
  virtual core::Result<std::unique_ptr<storage::ObjectStore>> Open(const std::string& location) = 0;
};

// Runs the whole preparation. `hub` is used for repo sources (may be null for local folders);
// the destination store is opener.Open(ModelLocation(options.bucket, model_path)).
core::Result<PrepareResult> PrepareModel(const PrepareOptions& options, hub::HubClient* hub,
                                         ModelStoreOpener& opener);

}  // namespace sdxl::prepare
