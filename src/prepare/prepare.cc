#include "prepare/prepare.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/hash.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "prepare/recipe.h"
#include "prepare/selection.h"
#include "storage/transfer.h"
#include "weights/convert.h"
#include "weights/manifest.h"
#include "weights/safetensors.h"

namespace sdxl::prepare {
namespace fs = std::filesystem;
using nlohmann::json;

core::Result<DTypeChoice> ParseDTypeChoice(std::string_view t) {
  if (t == "bf16" || t == "bfloat16") return DTypeChoice::kBf16;
  if (t == "fp16" || t == "float16") return DTypeChoice::kFp16;
  if (t == "keep") return DTypeChoice::kKeep;
  return core::InvalidArgument("--dtype must be bf16, fp16 or keep (got '" + std::string(t) + "')");
}

std::string_view DTypeChoiceName(DTypeChoice d) {
  switch (d) {
    case DTypeChoice::kBf16:
      return "bf16";
    case DTypeChoice::kFp16:
      return "fp16";
    case DTypeChoice::kKeep:
      return "keep";
  }
  return "?";
}

bool IsLocalSource(std::string_view s) {
  if (s.rfind("file://", 0) == 0 || s.rfind("/", 0) == 0 || s.rfind("./", 0) == 0 ||
      s.rfind("../", 0) == 0 || s.rfind("~", 0) == 0 || s == "." || s == "..") {
    return true;
  }
  std::error_code ec;
  return fs::is_directory(fs::path(std::string(s)), ec);
}

namespace {

bool IsBucketChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool IsValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  if (!std::all_of(name.begin(), name.end(), IsBucketChar)) return false;
  auto alnum = [](char c) { return IsBucketChar(c) && c != '.' && c != '-'; };
  return alnum(name.front()) && alnum(name.back());
}

}  // namespace

core::Result<storage::Location> ParseDestination(std::string_view bucket) {
  const std::string text(bucket);
  if (text.empty()) {
    return core::InvalidArgument("BUCKET is empty: give a bucket name, s3://BUCKET[/PREFIX], "
                                 "or a local store as ./DIR, /DIR or file://DIR");
  }
  if (text.starts_with("s3://") || text.starts_with("S3://") || text.starts_with("file://")) {
    return storage::ParseLocation(text);
  }
  if (text.find("://") != std::string::npos) {
    return core::InvalidArgument("unsupported BUCKET '" + text +
                                 "': use a bucket name, s3://BUCKET[/PREFIX] or file://DIR");
  }
  const bool explicit_path = text.starts_with('/') || text.starts_with("./") ||
                             text.starts_with("../") || text.starts_with('~') || text == "." ||
                             text == "..";
  if (explicit_path) {
    storage::Location loc;
    loc.kind = storage::Location::Kind::kLocal;
    loc.path = text;
    return loc;
  }
  if (text.find('/') != std::string::npos) {
    const std::string name = text.substr(0, text.find('/'));
    return core::InvalidArgument("BUCKET '" + text + "' is ambiguous: write s3://" + text +
                                 " for the prefix " + text.substr(name.size() + 1) +
                                 " in bucket " + name + ", or ./" + text +
                                 " for a local folder");
  }
  if (!IsValidBucketName(text)) {
    return core::InvalidArgument("BUCKET '" + text +
                                 "' is not a valid bucket name (3-63 characters: a-z, 0-9, '.', "
                                 "'-'); for a local folder write ./" +
                                 text);
  }
  storage::Location loc;
  loc.kind = storage::Location::Kind::kS3;
  loc.bucket = text;
  return loc;
}

bool IsEnvSafe(std::string_view value) {
  if (value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_./:@%+,=-").find(c) != std::string_view::npos;
  });
}

core::Result<std::string> ModelLocation(std::string_view bucket, std::string_view model_path) {
  std::string mp(model_path);
  while (!mp.empty() && mp.front() == '/') mp.erase(mp.begin());
  while (!mp.empty() && mp.back() == '/') mp.pop_back();
  if (mp.empty() || mp.find("..") != std::string::npos || mp.find("//") != std::string::npos) {
    return core::InvalidArgument("--path '" + std::string(model_path) +
                                 "' is not a usable model path: use a key prefix like org/name");
  }
  if (!IsEnvSafe(mp)) {
    return core::InvalidArgument(
        "'" + std::string(model_path) +
        "' cannot be MODEL_PATH: use letters, digits and _ . / - only (it goes into the "
        "deployment environment); pass --path");
  }
  SDXL_ASSIGN_OR_RETURN(auto loc, ParseDestination(bucket));
  if (loc.kind == storage::Location::Kind::kS3) {
    std::string prefix = loc.prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    return "s3://" + loc.bucket + "/" + (prefix.empty() ? "" : prefix + "/") + mp;
  }
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(loc.path), ec);
  return "file://" + (abs.lexically_normal() / mp).string();
}

namespace {

// Runs fn(i) for i in [0, n) on up to `jobs` threads; returns the first error (the indices not
// started yet are skipped once one failed).
core::Status ParallelFor(size_t n, int jobs, const std::function<core::Status(size_t)>& fn) {
  std::atomic<bool> failed{false};
  std::mutex mu;
  core::Status first;
  core::ParallelFor(n, static_cast<size_t>(std::max(1, jobs)), [&](size_t i) {
    if (failed.load()) return;
    core::Status s = fn(i);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (first.ok()) first = s;
      failed = true;
    }
  });
  return first;
}

core::Result<std::string> ReadSmallFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return core::NotFound("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

core::Status WriteFileAtomic(const fs::path& p, const std::string& data) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  fs::path tmp = p;
  tmp += ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) return core::Unavailable("cannot write " + tmp.string() + " (disk full?)");
  }
  fs::rename(tmp, p, ec);
  if (ec) return core::Unavailable("cannot rename " + tmp.string() + ": " + ec.message());
  return core::Status::Ok();
}

core::Result<Listing> WalkLocal(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return core::NotFound("local source " + root.string() + " is not a directory");
  }
  Listing l;
  l.origin = root.string();
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    l.files.push_back({it->path().lexically_relative(root).generic_string(),
                       static_cast<unsigned long long>(it->file_size())});
  }
  if (ec) return core::Unavailable("cannot list " + root.string() + ": " + ec.message());
  return l;
}

// Everything decided before any byte moves.
struct Plan {
  std::string source_repo;
  std::string source_revision;
  json recipe;
  Selection selection;
  bool local = false;
  fs::path local_root;
  std::map<std::string, std::string> commits;                              // origin repo -> commit
  std::map<std::string, std::map<std::string, hub::RepoFile>> repo_files;  // origin -> path -> file
};

Listing ToListing(const std::string& origin, const std::vector<hub::RepoFile>& files) {
  Listing l;
  l.origin = origin;
  for (const auto& f : files) l.files.push_back({f.path, f.size});
  return l;
}

core::Result<Plan> MakePlan(const PrepareOptions& o, hub::HubClient* hub) {
  Plan plan;
  json recipe = {{"dtype", std::string(DTypeChoiceName(o.dtype))}};
  if (IsLocalSource(o.source)) {
    std::string path = o.source.rfind("file://", 0) == 0 ? o.source.substr(7) : o.source;
    std::error_code ec;
    plan.local = true;
    plan.local_root = fs::absolute(path, ec).lexically_normal();
    if (plan.local_root.filename().empty()) plan.local_root = plan.local_root.parent_path();
    plan.source_repo = plan.local_root.string();
    SDXL_ASSIGN_OR_RETURN(Listing listing, WalkLocal(plan.local_root));
    auto index = ReadSmallFile(plan.local_root / "model_index.json");
    if (!index.ok()) {
      return core::InvalidArgument("'" + plan.source_repo +
                                   "' is not an SDXL diffusers pipeline: it has no "
                                   "model_index.json at its root");
    }
    SDXL_ASSIGN_OR_RETURN(plan.selection, SelectSdxlFiles(listing, *index));
    recipe["name"] = "sdxl";
    plan.recipe = recipe;
    return plan;
  }
  if (hub == nullptr) return core::Internal("no Hub client for a repo source");
  auto fetch_listing = [&](const std::string& repo, const std::string& rev) -> core::Status {
    SDXL_ASSIGN_OR_RETURN(std::string commit, hub->ResolveRevision(repo, rev));
    SDXL_ASSIGN_OR_RETURN(auto files, hub->ListFiles(repo, commit));
    plan.commits[repo] = commit;
    for (auto& f : files) plan.repo_files[repo][f.path] = f;
    return core::Status::Ok();
  };
  auto read_index = [&](const std::string& repo) -> core::Result<std::string> {
    auto it = plan.repo_files[repo].find("model_index.json");
    if (it == plan.repo_files[repo].end()) {
      return core::InvalidArgument(
          "'" + repo +
          "' is not an SDXL diffusers pipeline: it has no model_index.json at its "
          "root (single-file checkpoints are not supported; use a diffusers-layout repo)");
    }
    SDXL_ASSIGN_OR_RETURN(fs::path p, hub->Download(repo, plan.commits[repo], it->second));
    return ReadSmallFile(p);
  };
  auto listing_of = [&](const std::string& repo) {
    std::vector<hub::RepoFile> v;
    for (auto& [_, f] : plan.repo_files[repo]) v.push_back(f);
    return ToListing(repo, v);
  };
  plan.source_repo = o.source;
  if (IsLightningRepo(o.source)) {
    const std::string base(kSdxlBaseRepo);
    SDXL_RETURN_IF_ERROR(fetch_listing(o.source, o.revision));
    SDXL_RETURN_IF_ERROR(fetch_listing(base, "main"));
    SDXL_ASSIGN_OR_RETURN(std::string index, read_index(base));
    // The base's UNet weights are replaced by the Lightning UNet: never required (offline, the
    // cache holds only what an earlier run downloaded, which is not them).
    SDXL_ASSIGN_OR_RETURN(Selection base_sel, SelectSdxlFiles(listing_of(base), index, {"unet"}));
    SDXL_ASSIGN_OR_RETURN(std::string unet_file, LightningUnetFile(o.lightning_steps));
    auto lightning =
        ApplyLightningRecipe(std::move(base_sel), listing_of(o.source), o.lightning_steps);
    if (!lightning.ok() && lightning.status().code() == core::Code::kNotFound &&
        hub->config().offline) {
      return core::NotFound("HF_HUB_OFFLINE is set and the Hugging Face cache has no " +
                            unet_file + " of '" + o.source +
                            "': unset HF_HUB_OFFLINE to download it, or pick the "
                            "--lightning-steps prepared before");
    }
    SDXL_ASSIGN_OR_RETURN(plan.selection, std::move(lightning));
    recipe["name"] = "sdxl-lightning";
    recipe["base"] = {{"repo", base}, {"revision", plan.commits[base]}};
    recipe["unet"] = {
        {"repo", o.source}, {"revision", plan.commits[o.source]}, {"file", unet_file}};
    recipe["scheduler"] = {{"_class_name", "EulerDiscreteScheduler"},
                           {"timestep_spacing", "trailing"}};
    recipe["steps"] = o.lightning_steps;
    recipe["guidance"] = 0.0;
  } else {
    SDXL_RETURN_IF_ERROR(fetch_listing(o.source, o.revision));
    SDXL_ASSIGN_OR_RETURN(std::string index, read_index(o.source));
    SDXL_ASSIGN_OR_RETURN(plan.selection, SelectSdxlFiles(listing_of(o.source), index));
    recipe["name"] = "sdxl";
  }
  plan.source_revision = plan.commits[o.source];
  plan.recipe = recipe;
  return plan;
}

// Upload journal: dest -> {sha256, size, etag} of uploads that finished.
struct JournalEntry {
  std::string sha256;
  uint64_t size = 0;
  std::string etag;
};
using Journal = std::map<std::string, JournalEntry>;

std::string JournalToJson(const Journal& j) {
  json out = {{"format_version", 1}, {"files", json::object()}};
  for (const auto& [k, e] : j) {
    out["files"][k] = {{"sha256", e.sha256}, {"size", e.size}, {"etag", e.etag}};
  }
  return out.dump(1) + "\n";
}

Journal ParseJournal(const std::string& text) {
  Journal j;
  try {
    auto in = json::parse(text);
    for (auto& [k, v] : in.at("files").items()) {
      j[k] = {v.at("sha256").get<std::string>(), v.at("size").get<uint64_t>(),
              v.at("etag").get<std::string>()};
    }
  } catch (const std::exception& e) {
    spdlog::warn("ignoring an unreadable upload journal ({}): every file will be uploaded",
                 e.what());
    j.clear();
  }
  return j;
}

bool SameFiles(const weights::Manifest& a, const weights::Manifest& b) {
  if (a.files.size() != b.files.size()) return false;
  for (size_t i = 0; i < a.files.size(); ++i) {
    if (a.files[i].path != b.files[i].path || a.files[i].size != b.files[i].size ||
        a.files[i].sha256 != b.files[i].sha256) {
      return false;
    }
  }
  return true;
}

// True when every file of `m` is in `objects` with its size.
bool AllPresent(const weights::Manifest& m,
                const std::map<std::string, storage::ObjectInfo>& objects) {
  for (const auto& f : m.files) {
    auto it = objects.find(f.path);
    if (it == objects.end() || it->second.size != f.size) return false;
  }
  return true;
}

std::string Fingerprint(const Plan& plan, const PrepareOptions& o) {
  json fp = {{"v", 1}, {"source", plan.source_repo}, {"recipe", plan.recipe}};
  for (const auto& f : plan.selection.files) {
    json e = {{"origin", f.origin}, {"src", f.src_path}, {"dest", f.dest_path}};
    if (plan.local) {
      struct stat st {};
      ::stat((plan.local_root / f.src_path).c_str(), &st);
      e["size"] = static_cast<uint64_t>(st.st_size);
      e["mtime"] = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    } else {
      e["etag"] = plan.repo_files.at(f.origin).at(f.src_path).etag();
    }
    fp["files"].push_back(e);
  }
  return core::Sha256Hex(fp.dump()).substr(0, 20);
}

}  // namespace

core::Result<PrepareResult> PrepareModel(const PrepareOptions& o, hub::HubClient* hub,
                                         ModelStoreOpener& opener) {
  if (o.work_dir.empty()) return core::InvalidArgument("PrepareOptions.work_dir is empty");
  if (o.jobs < 1) return core::InvalidArgument("-j must be at least 1");
  SDXL_RETURN_IF_ERROR(LightningUnetFile(o.lightning_steps).status());

  // 1. Plan.
  SDXL_ASSIGN_OR_RETURN(Plan plan, MakePlan(o, hub));
  PrepareResult result;
  result.model_path =
      o.model_path.value_or(plan.local ? plan.local_root.filename().string() : o.source);
  result.source_revision = plan.source_revision;
  result.recipe_name = plan.recipe.value("name", "");
  SDXL_ASSIGN_OR_RETURN(result.destination, ModelLocation(o.bucket, result.model_path));
  SDXL_ASSIGN_OR_RETURN(auto store, opener.Open(result.destination));
  if (storage::ParseLocation(result.destination)->kind == storage::Location::Kind::kLocal) {
    SDXL_RETURN_IF_ERROR(store->CreateBucket());
  }
  const auto& files = plan.selection.files;
  spdlog::info("{}{}: {} files selected ({} components{}), recipe {}, dtype {}", plan.source_repo,
               plan.source_revision.empty() ? "" : "@" + plan.source_revision.substr(0, 12),
               files.size(), plan.selection.components.size(),
               plan.selection.fp16_variant ? ", fp16 variant" : "", result.recipe_name,
               DTypeChoiceName(o.dtype));

  // What the bucket holds now.
  std::optional<weights::Manifest> remote;
  {
    auto text = store->GetObject(weights::kManifestFileName);
    if (text.ok()) {
      auto m = weights::ParseManifest(*text);
      if (m.ok()) {
        remote = std::move(m).value();
      } else {
        spdlog::warn("existing {} is unreadable ({}); it will be replaced",
                     store->DescribeKey(weights::kManifestFileName), m.status().message());
      }
    } else if (text.status().code() != core::Code::kNotFound) {
      return text.status().Annotate("reading " + store->DescribeKey(weights::kManifestFileName));
    }
  }
  SDXL_ASSIGN_OR_RETURN(auto listed, store->List(""));
  std::map<std::string, storage::ObjectInfo> objects;
  for (auto& obj : listed) objects[obj.key] = obj;

  // Fast path: same source commit and recipe already complete in the bucket.
  if (remote && !plan.local && remote->source_repo == plan.source_repo &&
      remote->source_revision == plan.source_revision && remote->recipe == plan.recipe &&
      AllPresent(*remote, objects)) {
    result.was_complete = true;
    result.files = remote->files.size();
    result.bytes = remote->total_bytes();
    return result;
  }

  // 2. Fetch.
  std::vector<fs::path> src(files.size());
  if (plan.local) {
    for (size_t i = 0; i < files.size(); ++i) src[i] = plan.local_root / files[i].src_path;
  } else {
    uint64_t total = 0;
    for (const auto& f : files) total += plan.repo_files[f.origin][f.src_path].size;
    core::ProgressBar bar("download", total, o.progress);
    SDXL_RETURN_IF_ERROR(
        ParallelFor(files.size(), std::min(o.jobs, 8), [&](size_t i) -> core::Status {
          const auto& f = files[i];
          SDXL_ASSIGN_OR_RETURN(src[i], hub->Download(f.origin, plan.commits[f.origin],
                                                      plan.repo_files[f.origin][f.src_path],
                                                      [&](uint64_t n) { bar.Add(n); }));
          return core::Status::Ok();
        }));
    bar.Finish();
  }

  // 3. Transform into the staging folder.
  fs::path staging = o.work_dir / Fingerprint(plan, o);
  std::vector<fs::path> out(files.size());
  std::optional<weights::DType> target;
  if (o.dtype == DTypeChoice::kBf16) target = weights::DType::kBF16;
  if (o.dtype == DTypeChoice::kFp16) target = weights::DType::kF16;
  {
    uint64_t total = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].kind == SelectedFile::Kind::kWeights && target) {
        std::error_code ec;
        total += fs::file_size(src[i], ec);
      }
    }
    core::ProgressBar bar("convert", total, o.progress && target.has_value());
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    SDXL_RETURN_IF_ERROR(
        ParallelFor(files.size(), static_cast<int>(cores), [&](size_t i) -> core::Status {
          const auto& f = files[i];
          fs::path staged = staging / f.dest_path;
          std::error_code ec;
          // Small JSON files the recipe changes: read, transform, write into the staging folder.
          auto rewrite = [&](const auto& transform) -> core::Status {
            SDXL_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(src[i]));
            SDXL_ASSIGN_OR_RETURN(std::string changed, transform(text));
            SDXL_RETURN_IF_ERROR(WriteFileAtomic(staged, changed));
            out[i] = staged;
            return core::Status::Ok();
          };
          switch (f.kind) {
            case SelectedFile::Kind::kConfig:
              out[i] = src[i];
              return core::Status::Ok();
            case SelectedFile::Kind::kShardIndex:
              return rewrite([](std::string_view t) { return RewriteShardIndex(t); });
            case SelectedFile::Kind::kLightningScheduler:
              return rewrite(PatchSchedulerForLightning);
            case SelectedFile::Kind::kWeights:
              break;
          }
          uint64_t size = fs::file_size(src[i], ec);
          if (!target) {
            out[i] = src[i];
            return core::Status::Ok();
          }
          if (fs::exists(staged, ec)) {  // converted by an earlier run (written atomically)
            out[i] = staged;
            bar.Add(size);
            return core::Status::Ok();
          }
          bool needs = false;
          {
            SDXL_ASSIGN_OR_RETURN(auto file, weights::SafetensorsFile::Open(src[i]));
            for (const auto& t : file.header().tensors()) {
              if (weights::IsConvertibleFloat(t.dtype) && t.dtype != *target) needs = true;
            }
          }
          if (!needs) {
            out[i] = src[i];
            bar.Add(size);
            return core::Status::Ok();
          }
          fs::create_directories(staged.parent_path(), ec);
          weights::ConvertOptions copts;
          copts.target = *target;
          uint64_t reported = 0;
          copts.progress = [&](uint64_t done, uint64_t) {
            if (done > reported) {
              bar.Add(done - reported);
              reported = done;
            }
          };
          auto st = weights::ConvertSafetensorsFile(src[i], staged, copts);
          if (!st.ok()) return st.status().Annotate("converting " + f.src_path);
          if (size > reported) bar.Add(size - reported);
          out[i] = staged;
          return core::Status::Ok();
        }));
  }

  // 4. Manifest entries (SHA-256 + chunk hashes + tensor index of every output file).
  weights::Manifest manifest;
  manifest.source_repo = plan.source_repo;
  manifest.source_revision = plan.source_revision;
  manifest.recipe = plan.recipe;
  manifest.files.resize(files.size());
  {
    uint64_t total = 0;
    std::error_code ec;
    for (const auto& p : out) total += fs::file_size(p, ec);
    core::ProgressBar bar("hash", total, o.progress);
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    SDXL_RETURN_IF_ERROR(
        ParallelFor(files.size(), static_cast<int>(cores), [&](size_t i) -> core::Status {
          SDXL_ASSIGN_OR_RETURN(manifest.files[i],
                                weights::BuildFileEntry(out[i], files[i].dest_path));
          bar.Add(manifest.files[i].size);
          return core::Status::Ok();
        }));
  }
  result.files = manifest.files.size();
  result.bytes = manifest.total_bytes();

  if (remote && remote->source_repo == manifest.source_repo &&
      remote->source_revision == manifest.source_revision && remote->recipe == manifest.recipe &&
      SameFiles(*remote, manifest) && AllPresent(*remote, objects)) {
    result.was_complete = true;
    return result;
  }

  // 5. Decide what to upload: the journal of an interrupted run, and the files a previous
  // complete model already has with the same content, count as done.
  Journal journal;
  if (objects.count(std::string(kUploadJournalName))) {
    auto text = store->GetObject(kUploadJournalName);
    if (text.ok()) journal = ParseJournal(*text);
  }
  if (remote) {
    for (const auto& f : manifest.files) {
      const auto* old = remote->Find(f.path);
      auto obj = objects.find(f.path);
      if (old && obj != objects.end() && old->sha256 == f.sha256 && obj->second.size == f.size) {
        journal[f.path] = {f.sha256, f.size, obj->second.etag};
      }
    }
  }
  std::mutex journal_mu;
  auto save_journal = [&]() -> core::Status {
    std::string text;
    {
      std::lock_guard<std::mutex> lock(journal_mu);
      text = JournalToJson(journal);
    }
    return store->Put(kUploadJournalName, text, "application/json").status();
  };
  if (remote) {
    // The bucket no longer holds a complete model from here on: record what stays valid first.
    SDXL_RETURN_IF_ERROR(save_journal());
    SDXL_RETURN_IF_ERROR(store->Delete(weights::kManifestFileName));
  }
  std::vector<size_t> todo;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& e = manifest.files[i];
    auto obj = objects.find(e.path);
    auto j = journal.find(e.path);
    bool done = obj != objects.end() && j != journal.end() && j->second.sha256 == e.sha256 &&
                j->second.size == e.size && obj->second.size == e.size &&
                j->second.etag == obj->second.etag;
    if (done) {
      ++result.files_reused;
    } else {
      todo.push_back(i);
    }
  }
  {
    std::lock_guard<std::mutex> lock(journal_mu);
    for (auto it = journal.begin(); it != journal.end();) {
      bool keep = false;
      for (const auto& e : manifest.files)
        keep |= (e.path == it->first && e.sha256 == it->second.sha256);
      it = keep ? std::next(it) : journal.erase(it);
    }
  }

  // 6. Upload: big files one after another with parallel parts, small ones side by side.
  uint64_t upload_total = 0;
  for (size_t i : todo) upload_total += manifest.files[i].size;
  spdlog::info("uploading {} of {} files ({}) to {}", todo.size(), files.size(),
               core::FormatBytes(static_cast<double>(upload_total)), store->Describe());
  core::ProgressBar bar("upload", upload_total, o.progress && !todo.empty());
  storage::TransferOptions topts;
  topts.concurrency = o.jobs;
  topts.on_progress = [&](uint64_t n) { bar.Add(n); };
  // Journal writes cost a request each: after every big file, after every 4th small one.
  std::atomic<int> small_done{0};
  auto upload_one = [&](size_t i, const storage::TransferOptions& opts, bool big) -> core::Status {
    const auto& e = manifest.files[i];
    auto st = storage::UploadFile(*store, out[i], e.path, opts);
    if (!st.ok()) return st.status().Annotate("uploading " + e.path);
    SDXL_ASSIGN_OR_RETURN(auto info, store->Head(e.path));
    if (info.size != e.size) {
      return core::DataLoss(store->DescribeKey(e.path) + " has " + std::to_string(info.size) +
                            " bytes after upload, expected " + std::to_string(e.size));
    }
    {
      std::lock_guard<std::mutex> lock(journal_mu);
      journal[e.path] = {e.sha256, e.size, info.etag};
    }
    if (big || ++small_done % 4 == 0) return save_journal();
    return core::Status::Ok();
  };
  std::vector<size_t> big, small;
  for (size_t i : todo) {
    (manifest.files[i].size >= topts.multipart_threshold ? big : small).push_back(i);
  }
  for (size_t i : big) SDXL_RETURN_IF_ERROR(upload_one(i, topts, true));
  storage::TransferOptions small_opts = topts;
  small_opts.concurrency = 1;
  SDXL_RETURN_IF_ERROR(ParallelFor(
      small.size(), o.jobs, [&](size_t k) { return upload_one(small[k], small_opts, false); }));
  bar.Finish();
  result.files_uploaded = todo.size();
  result.bytes_uploaded = upload_total;

  // 7. The manifest goes last: its presence means "complete".
  std::string manifest_json = weights::ManifestToJson(manifest);
  SDXL_RETURN_IF_ERROR(store->Put(weights::kManifestFileName, manifest_json, "application/json")
                           .status()
                           .Annotate("writing the manifest"));
  SDXL_RETURN_IF_ERROR(store->Delete(kUploadJournalName));

  std::set<std::string> ours;
  for (const auto& e : manifest.files) ours.insert(e.path);
  for (const auto& [key, _] : objects) {
    if (!ours.count(key) && key != weights::kManifestFileName && key != kUploadJournalName) {
      spdlog::warn("{} is not part of this model (left from an earlier upload?)",
                   store->DescribeKey(key));
    }
  }
  return result;
}

}  // namespace sdxl::prepare
