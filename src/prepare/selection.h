#pragma once
// File selection for prepare-model: which files of a repo (Hub listing or local folder) make up
// a servable SDXL diffusers pipeline, and under which name each is stored.
//
// Rules: model_index.json must describe a StableDiffusionXLPipeline with the SDXL components
// (unet, vae, text_encoder, text_encoder_2, tokenizer, tokenizer_2, scheduler). From each
// component folder named in model_index.json we take config and tokenizer files (*.json, *.txt)
// and safetensors weights: the fp16 variant (*.fp16.safetensors, sharded or not) when the
// component has one, else the plain files. Never .bin/.ckpt/.pt/.onnx/.msgpack/OpenVINO files,
// folders model_index.json does not name, or single-file checkpoints at the root. Variant names
// are stored under their plain names (a sharded index's weight_map is rewritten to match), so the
// result loads with `from_pretrained` without a `variant` argument.
// Pure functions: thread-safe, no I/O.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::prepare {

struct SelectedFile {
  enum class Kind {
    kWeights,             // *.safetensors (dtype conversion applies)
    kShardIndex,          // *.safetensors.index[.fp16].json (weight_map names rewritten)
    kConfig,              // everything else (copied as is)
    kLightningScheduler,  // scheduler_config.json rewritten for SDXL-Lightning (see recipe.h)
  };
  std::string origin;     // repo id (or local folder) the file comes from
  std::string src_path;   // path inside that repo
  std::string dest_path;  // path under MODEL_PATH
  Kind kind = Kind::kConfig;
  unsigned long long size = 0;  // source size, when known
};

struct Listing {
  std::string origin;  // repo id or local folder
  struct Entry {
    std::string path;
    unsigned long long size = 0;
  };
  std::vector<Entry> files;
};

struct Selection {
  std::vector<SelectedFile> files;      // sorted by dest_path
  std::vector<std::string> components;  // from model_index.json, sorted
  bool fp16_variant = false;            // at least one component used the fp16 variant
  std::vector<std::string> skipped;     // repo files not taken (for --verbose)
};

// Selects the pipeline files from `listing`; `model_index_json` is the content of the repo's
// model_index.json. InvalidArgument with the reason when the repo is not an SDXL diffusers
// pipeline (or lacks safetensors weights for a model component).
// Components named in `weights_elsewhere` may lack weights in `listing` (a recipe supplies them:
// the SDXL-Lightning UNet); their configs are still required and taken.
core::Result<Selection> SelectSdxlFiles(const Listing& listing, std::string_view model_index_json,
                                        const std::set<std::string>& weights_elsewhere = {});

// The stored name of a variant file: "x.fp16.safetensors" -> "x.safetensors",
// "x.fp16-00001-of-00002.safetensors" -> "x-00001-of-00002.safetensors",
// "x.safetensors.index.fp16.json" -> "x.safetensors.index.json". Other names are unchanged.
std::string StripVariant(std::string_view file_name, std::string_view variant = "fp16");

// Rewrites a shard index (`{"metadata":..., "weight_map": {tensor: shard file}}`) so shard names
// lose their variant. DataLoss if it is not such a JSON object.
core::Result<std::string> RewriteShardIndex(std::string_view json,
                                            std::string_view variant = "fp16");

}  // namespace sdxl::prepare
