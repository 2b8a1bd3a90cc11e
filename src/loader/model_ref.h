#pragma once
// ModelRef: where a prepared SDXL pipeline lives in object storage, a bucket plus the key prefix
// (MODEL_PATH) under which model_index.json, unet/, vae/, ... and the manifest are stored.
//
// A plain value (copyable, thread-safe to read). The parsers validate what the cache needs: the
// bucket and every prefix segment become local directory names, so empty, "." and ".." segments
// are refused instead of escaping the cache folder.

#include <string>
#include <string_view>

#include "core/environment.h"
#include "core/status.h"

namespace sdxl::loader {

struct ModelRef {
  std::string bucket;
  std::string prefix;  // without leading/trailing '/'; empty = the bucket's root
};

// "s3://bucket/some/path" (a trailing '/' is allowed) -> {bucket, "some/path"}. InvalidArgument,
// saying what to write instead, for anything else.
core::Result<ModelRef> ParseModelRef(std::string_view uri);

// From MODEL_BUCKET_NAME + MODEL_PATH, the deployment variables that prepare-model prints (and
// the seed template uses). NotFound, naming the missing variable(s), when they are unset.
core::Result<ModelRef> ModelRefFromEnvironment(const core::Environment& env);

// "s3://bucket/prefix" ("s3://bucket" for an empty prefix).
std::string ToUri(const ModelRef& ref);

// OK when the bucket and prefix are safe to use as local directory names (what the parsers
// check); for refs built by hand.
core::Status ValidateModelRef(const ModelRef& ref);

}  // namespace sdxl::loader
