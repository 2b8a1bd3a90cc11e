#include "loader/model_ref.h"

namespace sdxl::loader {
namespace {

std::string Trim(std::string_view s, char c) {
  while (!s.empty() && s.front() == c) s.remove_prefix(1);
  while (!s.empty() && s.back() == c) s.remove_suffix(1);
  return std::string(s);
}

// Empty when fine, else what is wrong with `prefix`.
std::string PrefixProblem(std::string_view prefix) {
  if (prefix.empty()) return {};
  std::size_t start = 0;
  while (start <= prefix.size()) {
    std::size_t end = prefix.find('/', start);
    if (end == std::string_view::npos) end = prefix.size();
    const std::string_view seg = prefix.substr(start, end - start);
    if (seg.empty()) return "has an empty path segment (\"//\")";
    if (seg == "." || seg == "..") return "has a \".\" or \"..\" path segment";
    start = end + 1;
  }
  if (prefix.find('\0') != std::string_view::npos || prefix.find('\\') != std::string_view::npos) {
    return "contains a NUL or backslash";
  }
  return {};
}

std::string BucketProblem(std::string_view bucket) {
  if (bucket.empty()) return "names no bucket";
  if (bucket == "." || bucket == "..") return "has an invalid bucket name";
  for (const char c : bucket) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return "has an invalid bucket name (letters, digits, '-', '.', '_' only)";
  }
  return {};
}

}  // namespace

core::Status ValidateModelRef(const ModelRef& ref) {
  if (auto p = BucketProblem(ref.bucket); !p.empty()) {
    return core::InvalidArgument("model location " + ToUri(ref) + " " + p);
  }
  if (ref.prefix.starts_with('/') || ref.prefix.ends_with('/')) {
    return core::InvalidArgument("model location " + ToUri(ref) +
                                 ": the path must not start or end with '/'");
  }
  if (auto p = PrefixProblem(ref.prefix); !p.empty()) {
    return core::InvalidArgument("model location " + ToUri(ref) + " " + p +
                                 "; write s3://BUCKET/PATH/TO/MODEL");
  }
  return core::Status::Ok();
}

core::Result<ModelRef> ParseModelRef(std::string_view uri) {
  if (!uri.starts_with("s3://")) {
    return core::InvalidArgument("model location \"" + std::string(uri) +
                                 "\" must be an s3://BUCKET/PATH URL (or a local folder where a "
                                 "local folder is accepted)");
  }
  std::string_view rest = uri.substr(5);
  const std::size_t slash = rest.find('/');
  ModelRef ref;
  ref.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    ref.prefix = std::string(path);
  }
  if (ref.bucket.empty()) {
    return core::InvalidArgument("model location \"" + std::string(uri) +
                                 "\" names no bucket; write s3://BUCKET/PATH");
  }
  SDXL_RETURN_IF_ERROR(ValidateModelRef(ref));
  return ref;
}

core::Result<ModelRef> ModelRefFromEnvironment(const core::Environment& env) {
  const auto bucket = env.Get("MODEL_BUCKET_NAME");
  const auto path = env.Get("MODEL_PATH");
  if (!bucket && !path) {
    return core::NotFound(
        "no model given: pass s3://BUCKET/PATH (generate and serve also take a local folder), "
        "or set MODEL_BUCKET_NAME and MODEL_PATH (prepare-model prints them)");
  }
  if (!bucket) {
    return core::NotFound(
        "MODEL_PATH is set but MODEL_BUCKET_NAME is not; set it to the bucket "
        "that holds the model (prepare-model prints both)");
  }
  if (!path) {
    return core::NotFound(
        "MODEL_BUCKET_NAME is set but MODEL_PATH is not; set it to the model's "
        "path in the bucket (prepare-model prints both)");
  }
  ModelRef ref;
  std::string_view b = *bucket;
  if (b.starts_with("s3://")) b.remove_prefix(5);  // a common slip; the meaning is unambiguous
  ref.bucket = Trim(b, '/');
  ref.prefix = Trim(*path, '/');
  if (auto st = ValidateModelRef(ref); !st.ok()) {
    return core::InvalidArgument("MODEL_BUCKET_NAME=" + *bucket + " MODEL_PATH=" + *path + ": " +
                                 st.message());
  }
  return ref;
}

std::string ToUri(const ModelRef& ref) {
  return ref.prefix.empty() ? "s3://" + ref.bucket : "s3://" + ref.bucket + "/" + ref.prefix;
}

}  // namespace sdxl::loader
