// The byte-moving phases of PrepareModel (see prepare_phases.h); the plan phase is in
// prepare_plan.cc.
#include "prepare/prepare_phases.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "core/file_util.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "prepare/recipe.h"
#include "storage/transfer.h"
#include "weights/convert.h"
#include "weights/safetensors.h"

namespace sdxl::prepare {
namespace fs = std::filesystem;

namespace {

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

size_t Cores() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

bool BucketState::HoldsModelOf(const std::string& source_repo, const std::string& source_revision,
                               const nlohmann::json& recipe) const {
  return remote && remote->source_repo == source_repo &&
         remote->source_revision == source_revision && remote->recipe == recipe &&
         AllPresent(*remote, objects);
}

bool BucketState::HoldsModel(const weights::Manifest& manifest) const {
  return HoldsModelOf(manifest.source_repo, manifest.source_revision, manifest.recipe) &&
         SameFiles(*remote, manifest);
}

core::Result<BucketState> InspectBucket(storage::ObjectStore& store) {
  BucketState bucket;
  auto text = store.GetObject(weights::kManifestFileName);
  if (text.ok()) {
    auto m = weights::ParseManifest(*text);
    if (m.ok()) {
      bucket.remote = std::move(m).value();
    } else {
      spdlog::warn("existing {} is unreadable ({}); it will be replaced",
                   store.DescribeKey(weights::kManifestFileName), m.status().message());
    }
  } else if (text.status().code() != core::Code::kNotFound) {
    return text.status().Annotate("reading " + store.DescribeKey(weights::kManifestFileName));
  }
  SDXL_ASSIGN_OR_RETURN(auto listed, store.List(""));
  for (auto& obj : listed) bucket.objects[obj.key] = obj;
  return bucket;
}

core::Result<std::vector<fs::path>> FetchSources(const Plan& plan, hub::HubClient* hub, int jobs,
                                                 bool progress) {
  const auto& files = plan.selection.files;
  std::vector<fs::path> src(files.size());
  if (plan.local) {
    for (size_t i = 0; i < files.size(); ++i) src[i] = plan.local_root / files[i].src_path;
    return src;
  }
  if (hub == nullptr) return core::Internal("no Hub client for a repo source");
  uint64_t total = 0;
  for (const auto& f : files) total += plan.repo_files.at(f.origin).at(f.src_path).size;
  core::ProgressBar bar("download", total, progress);
  SDXL_RETURN_IF_ERROR(core::ParallelFor(
      files.size(), static_cast<size_t>(std::max(1, std::min(jobs, 8))),
      [&](size_t i) -> core::Status {
        const auto& f = files[i];
        SDXL_ASSIGN_OR_RETURN(src[i], hub->Download(f.origin, plan.commits.at(f.origin),
                                                    plan.repo_files.at(f.origin).at(f.src_path),
                                                    [&](uint64_t n) { bar.Add(n); }));
        return core::Status::Ok();
      }));
  bar.Finish();
  return src;
}

std::optional<weights::DType> TargetDType(DTypeChoice choice) {
  if (choice == DTypeChoice::kBf16) return weights::DType::kBF16;
  if (choice == DTypeChoice::kFp16) return weights::DType::kF16;
  return std::nullopt;
}

core::Result<std::vector<fs::path>> StageFiles(const Plan& plan, const std::vector<fs::path>& src,
                                               const fs::path& staging,
                                               std::optional<weights::DType> target,
                                               bool progress) {
  const auto& files = plan.selection.files;
  if (src.size() != files.size()) return core::Internal("StageFiles: one source per file");
  std::vector<fs::path> out(files.size());
  uint64_t total = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i].kind == SelectedFile::Kind::kWeights && target) {
      std::error_code ec;
      total += fs::file_size(src[i], ec);
    }
  }
  core::ProgressBar bar("convert", total, progress && target.has_value());
  SDXL_RETURN_IF_ERROR(core::ParallelFor(files.size(), Cores(), [&](size_t i) -> core::Status {
    const auto& f = files[i];
    fs::path staged = staging / f.dest_path;
    std::error_code ec;
    // Small JSON files the recipe changes: read, transform, write into the staging folder.
    auto rewrite = [&](const auto& transform) -> core::Status {
      SDXL_ASSIGN_OR_RETURN(std::string text, core::ReadFile(src[i]));
      SDXL_ASSIGN_OR_RETURN(std::string changed, transform(text));
      SDXL_RETURN_IF_ERROR(core::WriteFileAtomically(staged, changed));
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
  return out;
}

core::Result<weights::Manifest> BuildManifest(const Plan& plan, const std::vector<fs::path>& out,
                                              bool progress) {
  const auto& files = plan.selection.files;
  if (out.size() != files.size()) return core::Internal("BuildManifest: one output per file");
  weights::Manifest manifest;
  manifest.source_repo = plan.source_repo;
  manifest.source_revision = plan.source_revision;
  manifest.recipe = plan.recipe;
  manifest.files.resize(files.size());
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& p : out) total += fs::file_size(p, ec);
  core::ProgressBar bar("hash", total, progress);
  SDXL_RETURN_IF_ERROR(core::ParallelFor(files.size(), Cores(), [&](size_t i) -> core::Status {
    SDXL_ASSIGN_OR_RETURN(manifest.files[i], weights::BuildFileEntry(out[i], files[i].dest_path));
    bar.Add(manifest.files[i].size);
    return core::Status::Ok();
  }));
  return manifest;
}

Journal SeedJournal(Journal journal, const weights::Manifest& manifest, const BucketState& bucket) {
  if (!bucket.remote) return journal;
  for (const auto& f : manifest.files) {
    const auto* old = bucket.remote->Find(f.path);
    auto obj = bucket.objects.find(f.path);
    if (old && obj != bucket.objects.end() && old->sha256 == f.sha256 &&
        obj->second.size == f.size) {
      journal[f.path] = {f.sha256, f.size, obj->second.etag};
    }
  }
  return journal;
}

UploadPlan PlanUploads(const weights::Manifest& manifest,
                       const std::map<std::string, storage::ObjectInfo>& objects,
                       Journal& journal) {
  UploadPlan plan;
  for (size_t i = 0; i < manifest.files.size(); ++i) {
    const auto& e = manifest.files[i];
    auto obj = objects.find(e.path);
    auto j = journal.find(e.path);
    bool done = obj != objects.end() && j != journal.end() && j->second.sha256 == e.sha256 &&
                j->second.size == e.size && obj->second.size == e.size &&
                j->second.etag == obj->second.etag;
    if (done) {
      ++plan.reused;
    } else {
      plan.todo.push_back(i);
    }
  }
  for (auto it = journal.begin(); it != journal.end();) {
    bool keep = false;
    for (const auto& e : manifest.files) {
      keep |= (e.path == it->first && e.sha256 == it->second.sha256);
    }
    it = keep ? std::next(it) : journal.erase(it);
  }
  return plan;
}

core::Result<uint64_t> UploadFiles(storage::ObjectStore& store, const weights::Manifest& manifest,
                                   const std::vector<fs::path>& out,
                                   const std::vector<size_t>& todo, Journal& journal, int jobs,
                                   bool progress) {
  if (out.size() != manifest.files.size()) {
    return core::Internal("UploadFiles: one output per manifest entry");
  }
  jobs = std::max(1, jobs);
  uint64_t upload_total = 0;
  for (size_t i : todo) upload_total += manifest.files[i].size;
  spdlog::info("uploading {} of {} files ({}) to {}", todo.size(), manifest.files.size(),
               core::FormatBytes(static_cast<double>(upload_total)), store.Describe());
  core::ProgressBar bar("upload", upload_total, progress && !todo.empty());
  storage::TransferOptions topts;
  topts.concurrency = jobs;
  topts.on_progress = [&](uint64_t n) { bar.Add(n); };
  std::mutex journal_mu;
  auto save_journal = [&]() -> core::Status {
    std::string text;
    {
      std::lock_guard<std::mutex> lock(journal_mu);
      text = JournalToJson(journal);
    }
    return store.Put(kUploadJournalName, text, "application/json").status();
  };
  // Journal writes cost a request each: after every big file, after every 4th small one.
  std::atomic<int> small_done{0};
  auto upload_one = [&](size_t i, const storage::TransferOptions& opts, bool big) -> core::Status {
    const auto& e = manifest.files[i];
    auto st = storage::UploadFile(store, out[i], e.path, opts);
    if (!st.ok()) return st.status().Annotate("uploading " + e.path);
    SDXL_ASSIGN_OR_RETURN(auto info, store.Head(e.path));
    if (info.size != e.size) {
      return core::DataLoss(store.DescribeKey(e.path) + " has " + std::to_string(info.size) +
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
  SDXL_RETURN_IF_ERROR(core::ParallelFor(small.size(), static_cast<size_t>(jobs), [&](size_t k) {
    return upload_one(small[k], small_opts, false);
  }));
  bar.Finish();
  return upload_total;
}

core::Status PublishManifest(storage::ObjectStore& store, const weights::Manifest& manifest,
                             const std::map<std::string, storage::ObjectInfo>& objects) {
  std::string manifest_json = weights::ManifestToJson(manifest);
  SDXL_RETURN_IF_ERROR(store.Put(weights::kManifestFileName, manifest_json, "application/json")
                           .status()
                           .Annotate("writing the manifest"));
  SDXL_RETURN_IF_ERROR(store.Delete(kUploadJournalName));
  std::set<std::string> ours;
  for (const auto& e : manifest.files) ours.insert(e.path);
  for (const auto& [key, _] : objects) {
    if (!ours.count(key) && key != weights::kManifestFileName && key != kUploadJournalName) {
      spdlog::warn("{} is not part of this model (left from an earlier upload?)",
                   store.DescribeKey(key));
    }
  }
  return core::Status::Ok();
}

}  // namespace sdxl::prepare
