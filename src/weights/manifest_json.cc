// Manifest JSON: canonical serialization and strict parsing (see manifest.h).
#include <algorithm>

#include "core/file_util.h"
#include "core/hash.h"
#include "weights/manifest.h"
#include "weights/strict_json.h"

namespace sdxl::weights {
namespace {

using core::Result;
using core::Status;
using nlohmann::json;
using nlohmann::ordered_json;

Status Bad(std::string message) { return core::DataLoss("invalid manifest: " + message); }

// Field access helpers: each returns a Status naming the field.
Result<const json*> Field(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(where + ": missing \"" + key + "\"");
  return &*it;
}

Result<std::uint64_t> UnsignedAt(const json& obj, const char* key, const std::string& where) {
  SDXL_ASSIGN_OR_RETURN(const json* v, Field(obj, key, where));
  if (!v->is_number_unsigned()) {
    return Bad(where + ": \"" + key + "\" must be a non-negative integer");
  }
  return v->get<std::uint64_t>();
}

Result<std::string> StringAt(const json& obj, const char* key, const std::string& where) {
  SDXL_ASSIGN_OR_RETURN(const json* v, Field(obj, key, where));
  if (!v->is_string()) return Bad(where + ": \"" + key + "\" must be a string");
  return v->get<std::string>();
}

Status OnlyKeys(const json& obj, std::initializer_list<std::string_view> allowed,
                const std::string& where) {
  for (const auto& [k, v] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return Bad(where + ": unexpected field \"" + PrintableForError(k) + "\"");
    }
  }
  return Status::Ok();
}

Result<SafetensorsHeader> ParseSafetensorsIndex(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where + ": \"safetensors\" must be an object");
  SDXL_RETURN_IF_ERROR(OnlyKeys(j, {"header_size", "metadata", "tensors"}, where));
  SDXL_ASSIGN_OR_RETURN(std::uint64_t header_size, UnsignedAt(j, "header_size", where));
  std::map<std::string, std::string> metadata;
  if (auto it = j.find("metadata"); it != j.end()) {
    if (!it->is_object()) return Bad(where + ": safetensors metadata must be an object");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return Bad(where + ": safetensors metadata values must be strings");
      metadata.emplace(k, v.get<std::string>());
    }
  }
  SDXL_ASSIGN_OR_RETURN(const json* tensors_json, Field(j, "tensors", where));
  if (!tensors_json->is_array()) return Bad(where + ": \"tensors\" must be an array");
  std::vector<TensorInfo> tensors;
  tensors.reserve(tensors_json->size());
  for (const json& t : *tensors_json) {
    if (!t.is_object()) return Bad(where + ": every tensor must be an object");
    SDXL_RETURN_IF_ERROR(OnlyKeys(t, {"name", "dtype", "shape", "data_offsets"}, where));
    TensorInfo info;
    SDXL_ASSIGN_OR_RETURN(info.name, StringAt(t, "name", where));
    const std::string tw = where + " tensor '" + PrintableForError(info.name) + "'";
    SDXL_ASSIGN_OR_RETURN(std::string dtype, StringAt(t, "dtype", tw));
    auto dt = ParseDType(dtype);
    if (!dt) return Bad(tw + ": unknown dtype \"" + PrintableForError(dtype) + "\"");
    info.dtype = *dt;
    SDXL_ASSIGN_OR_RETURN(const json* shape, Field(t, "shape", tw));
    if (!shape->is_array()) return Bad(tw + ": shape must be an array");
    for (const json& d : *shape) {
      if (!d.is_number_unsigned()) return Bad(tw + ": shape entries must be non-negative integers");
      info.shape.push_back(d.get<std::uint64_t>());
    }
    SDXL_ASSIGN_OR_RETURN(const json* offs, Field(t, "data_offsets", tw));
    if (!offs->is_array() || offs->size() != 2 || !(*offs)[0].is_number_unsigned() ||
        !(*offs)[1].is_number_unsigned()) {
      return Bad(tw + ": data_offsets must be [begin, end] non-negative integers");
    }
    info.data_begin = (*offs)[0].get<std::uint64_t>();
    info.data_end = (*offs)[1].get<std::uint64_t>();
    tensors.push_back(std::move(info));
  }
  auto header =
      SafetensorsHeader::FromTensors(header_size, std::move(tensors), std::move(metadata));
  if (!header.ok()) return Bad(where + ": " + header.status().message());
  return std::move(header).value();
}

Result<FileEntry> ParseFileEntry(const json& j, size_t index) {
  std::string where = "files[" + std::to_string(index) + "]";
  if (!j.is_object()) return Bad(where + " must be an object");
  SDXL_RETURN_IF_ERROR(
      OnlyKeys(j, {"path", "size", "sha256", "chunk_size", "chunk_xxh3", "safetensors"}, where));
  FileEntry e;
  SDXL_ASSIGN_OR_RETURN(e.path, StringAt(j, "path", where));
  if (!IsSafeManifestPath(e.path)) {
    return Bad(where + ": path \"" + PrintableForError(e.path) +
               "\" is not a safe relative path (no leading '/', '..', '.', empty parts)");
  }
  where = "file \"" + PrintableForError(e.path) + "\"";
  SDXL_ASSIGN_OR_RETURN(e.size, UnsignedAt(j, "size", where));
  SDXL_ASSIGN_OR_RETURN(e.sha256, StringAt(j, "sha256", where));
  if (!core::IsSha256Hex(e.sha256)) return Bad(where + ": sha256 must be 64 lowercase hex digits");
  SDXL_ASSIGN_OR_RETURN(e.chunk_size, UnsignedAt(j, "chunk_size", where));
  if (e.chunk_size == 0) return Bad(where + ": chunk_size must be positive");
  SDXL_ASSIGN_OR_RETURN(const json* chunks, Field(j, "chunk_xxh3", where));
  if (!chunks->is_array()) return Bad(where + ": chunk_xxh3 must be an array");
  const std::uint64_t want = NumChunks(e.size, e.chunk_size);
  if (chunks->size() != want) {
    return Bad(where + ": " + std::to_string(chunks->size()) + " chunk hashes for " +
               std::to_string(e.size) + " bytes in " + std::to_string(e.chunk_size) +
               "-byte chunks (expected " + std::to_string(want) + ")");
  }
  e.chunk_xxh3.reserve(chunks->size());
  for (const json& c : *chunks) {
    auto v = c.is_string() ? core::ParseHex64(c.get_ref<const std::string&>()) : std::nullopt;
    if (!v) return Bad(where + ": chunk hashes must be 16 hex digits");
    e.chunk_xxh3.push_back(*v);
  }
  if (auto it = j.find("safetensors"); it != j.end()) {
    SDXL_ASSIGN_OR_RETURN(SafetensorsHeader h, ParseSafetensorsIndex(*it, where));
    if (h.file_size() != e.size) {
      return Bad(where + ": tensor index describes " + std::to_string(h.file_size()) +
                 " bytes but size is " + std::to_string(e.size));
    }
    e.safetensors = std::move(h);
  }
  return e;
}

}  // namespace

std::string ManifestToJson(const Manifest& m) {
  ordered_json j;
  j["format_version"] = m.format_version;
  j["source"] = {{"repo", m.source_repo}, {"revision", m.source_revision}};
  j["recipe"] = ordered_json::parse(m.recipe.is_object() ? m.recipe.dump() : "{}");
  ordered_json files = ordered_json::array();
  std::vector<const FileEntry*> sorted;
  for (const FileEntry& e : m.files) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const FileEntry* a, const FileEntry* b) { return a->path < b->path; });
  for (const FileEntry* e : sorted) {
    ordered_json f;
    f["path"] = e->path;
    f["size"] = e->size;
    f["sha256"] = e->sha256;
    f["chunk_size"] = e->chunk_size;
    ordered_json chunks = ordered_json::array();
    for (std::uint64_t h : e->chunk_xxh3) chunks.push_back(core::Hex64(h));
    f["chunk_xxh3"] = std::move(chunks);
    if (e->safetensors) {
      ordered_json st;
      st["header_size"] = e->safetensors->header_size();
      if (!e->safetensors->metadata().empty()) {
        ordered_json md = ordered_json::object();
        for (const auto& [k, v] : e->safetensors->metadata()) md[k] = v;
        st["metadata"] = std::move(md);
      }
      ordered_json tensors = ordered_json::array();
      for (const TensorInfo& t : e->safetensors->tensors()) {
        tensors.push_back({{"name", t.name},
                           {"dtype", DTypeName(t.dtype)},
                           {"shape", t.shape},
                           {"data_offsets", {t.data_begin, t.data_end}}});
      }
      st["tensors"] = std::move(tensors);
      f["safetensors"] = std::move(st);
    }
    files.push_back(std::move(f));
  }
  j["files"] = std::move(files);
  // Names come from validated UTF-8 headers; replace anything else rather than throw.
  return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

Result<Manifest> ParseManifest(std::string_view text) {
  auto doc = ParseStrictJson(text, /*max_depth=*/64);
  if (!doc.ok()) return Bad(doc.status().message());
  const json& j = *doc;
  if (!j.is_object()) return Bad("the top level is not a JSON object");
  SDXL_RETURN_IF_ERROR(OnlyKeys(j, {"format_version", "source", "recipe", "files"}, "manifest"));
  Manifest m;
  SDXL_ASSIGN_OR_RETURN(const json* version, Field(j, "format_version", "manifest"));
  if (!version->is_number_integer()) return Bad("format_version must be an integer");
  if (version->get<std::int64_t>() != kManifestFormatVersion) {
    return Status(core::Code::kFailedPrecondition,
                  "manifest format_version " + version->dump() + " is not supported (this " +
                      "sdxl-tigris reads version " + std::to_string(kManifestFormatVersion) +
                      "): upgrade sdxl-tigris or re-run prepare-model");
  }
  SDXL_ASSIGN_OR_RETURN(const json* source, Field(j, "source", "manifest"));
  if (!source->is_object()) return Bad("source must be an object");
  SDXL_RETURN_IF_ERROR(OnlyKeys(*source, {"repo", "revision"}, "source"));
  SDXL_ASSIGN_OR_RETURN(m.source_repo, StringAt(*source, "repo", "source"));
  SDXL_ASSIGN_OR_RETURN(m.source_revision, StringAt(*source, "revision", "source"));
  SDXL_ASSIGN_OR_RETURN(const json* recipe, Field(j, "recipe", "manifest"));
  if (!recipe->is_object()) return Bad("recipe must be an object");
  m.recipe = *recipe;
  SDXL_ASSIGN_OR_RETURN(const json* files, Field(j, "files", "manifest"));
  if (!files->is_array()) return Bad("files must be an array");
  for (size_t i = 0; i < files->size(); ++i) {
    SDXL_ASSIGN_OR_RETURN(FileEntry e, ParseFileEntry((*files)[i], i));
    m.files.push_back(std::move(e));
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  for (size_t i = 1; i < m.files.size(); ++i) {
    if (m.files[i].path == m.files[i - 1].path) {
      return Bad("file \"" + PrintableForError(m.files[i].path) + "\" is listed twice");
    }
  }
  return m;
}

Result<Manifest> ReadManifestFile(const std::filesystem::path& path) {
  // "cannot open PATH: <reason>" (NotFound when it does not exist), as before.
  SDXL_ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  auto m = ParseManifest(text);
  if (!m.ok()) return m.status().Annotate(path.string());
  return m;
}

}  // namespace sdxl::weights
