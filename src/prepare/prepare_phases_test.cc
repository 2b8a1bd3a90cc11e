// Each phase of PrepareModel alone (prepare_phases.h), on a tiny local SDXL pipeline folder and a
// local object store, and the whole run end to end on the same inputs.
#include "prepare/prepare_phases.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "core/file_util.h"
#include "core/hash.h"
#include "storage/local_object_store.h"
#include "weights/safetensors.h"
#include "weights/test_util.h"

namespace sdxl::prepare {
namespace {

namespace fs = std::filesystem;
using weights::testing::FileBytes;
using weights::testing::TempDir;

const char* kIndex = R"({"_class_name": "StableDiffusionXLPipeline",
  "scheduler": ["diffusers", "EulerDiscreteScheduler"],
  "text_encoder": ["transformers", "CLIPTextModel"],
  "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
  "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
  "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})";

// One tensor "w" of two elements.
std::string F32Weights() {
  return FileBytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                   std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8));
}
std::string BF16Weights() {
  return FileBytes(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})",
                   std::string("\x80\x3f\x00\x40", 4));
}

// A minimal diffusers SDXL folder (text_encoder_2 already in bf16) plus a README to skip.
class LocalPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    src_.Write("model_index.json", kIndex);
    src_.Write("README.md", "# tiny\n");
    src_.Write("scheduler/scheduler_config.json", R"({"_class_name": "EulerDiscreteScheduler"})");
    for (const char* c : {"text_encoder", "text_encoder_2", "unet", "vae"}) {
      src_.Write(std::string(c) + "/config.json", "{}");
    }
    src_.Write("text_encoder/model.safetensors", F32Weights());
    src_.Write("text_encoder_2/model.safetensors", BF16Weights());
    src_.Write("unet/diffusion_pytorch_model.safetensors", F32Weights());
    src_.Write("vae/diffusion_pytorch_model.safetensors", F32Weights());
    for (const char* t : {"tokenizer", "tokenizer_2"}) {
      src_.Write(std::string(t) + "/vocab.json", "{}");
      src_.Write(std::string(t) + "/merges.txt", "#version: 0.2\n");
    }
    options_.source = src_.path().string();
    options_.bucket = (bucket_.path() / "").string();
    options_.work_dir = work_.path();
    options_.progress = false;
  }

  Plan LocalPlan() {
    auto plan = MakePlan(options_, nullptr);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? std::move(plan).value() : Plan{};
  }
  size_t IndexOf(const Plan& plan, const std::string& dest) {
    for (size_t i = 0; i < plan.selection.files.size(); ++i) {
      if (plan.selection.files[i].dest_path == dest) return i;
    }
    ADD_FAILURE() << dest << " not selected";
    return 0;
  }

  TempDir src_, bucket_, work_;
  PrepareOptions options_;
};

TEST_F(LocalPipeline, MakePlanSelectsThePipelineFilesOfALocalFolder) {
  Plan plan = LocalPlan();
  EXPECT_TRUE(plan.local);
  EXPECT_EQ(plan.local_root, src_.path());
  EXPECT_EQ(plan.source_repo, src_.path().string());
  EXPECT_EQ(plan.recipe, nlohmann::json({{"dtype", "bf16"}, {"name", "sdxl"}}));
  EXPECT_EQ(plan.selection.files.size(), 14u);  // README.md is not taken
  const auto& unet =
      plan.selection.files[IndexOf(plan, "unet/diffusion_pytorch_model.safetensors")];
  EXPECT_EQ(unet.kind, SelectedFile::Kind::kWeights);
}

TEST_F(LocalPipeline, MakePlanRefusesAFolderWithoutModelIndex) {
  fs::remove(src_ / "model_index.json");
  auto plan = MakePlan(options_, nullptr);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("model_index.json"), std::string::npos);
}

TEST_F(LocalPipeline, FingerprintFollowsTheSourceFiles) {
  const std::string before = Fingerprint(LocalPlan());
  EXPECT_EQ(before.size(), 20u);
  EXPECT_EQ(Fingerprint(LocalPlan()), before);
  src_.Write("vae/config.json", R"({"scaling_factor": 0.13025})");
  EXPECT_NE(Fingerprint(LocalPlan()), before);
}

TEST_F(LocalPipeline, FetchSourcesOfALocalFolderAreTheFilesThemselves) {
  Plan plan = LocalPlan();
  auto src = FetchSources(plan, nullptr, 4, false);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_EQ(src->size(), plan.selection.files.size());
  for (size_t i = 0; i < src->size(); ++i) {
    EXPECT_EQ((*src)[i], src_.path() / plan.selection.files[i].src_path);
  }
  plan.local = false;  // a repo plan needs the Hub client
  EXPECT_FALSE(FetchSources(plan, nullptr, 4, false).ok());
}

TEST_F(LocalPipeline, StageFilesConvertsOnlyWhatNeedsIt) {
  Plan plan = LocalPlan();
  auto src = FetchSources(plan, nullptr, 4, false).value();
  const fs::path staging = work_.path() / Fingerprint(plan);
  auto out = StageFiles(plan, src, staging, weights::DType::kBF16, false);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const size_t unet = IndexOf(plan, "unet/diffusion_pytorch_model.safetensors");
  const size_t te2 = IndexOf(plan, "text_encoder_2/model.safetensors");
  const size_t cfg = IndexOf(plan, "unet/config.json");
  EXPECT_EQ((*out)[unet], staging / "unet/diffusion_pytorch_model.safetensors");
  auto converted = weights::SafetensorsFile::Open((*out)[unet]);
  ASSERT_TRUE(converted.ok()) << converted.status().ToString();
  EXPECT_EQ(converted->header().tensors().at(0).dtype, weights::DType::kBF16);
  EXPECT_EQ((*out)[te2], src[te2]);  // already bf16
  EXPECT_EQ((*out)[cfg], src[cfg]);  // configs as they are
  EXPECT_EQ(TargetDType(DTypeChoice::kBf16), weights::DType::kBF16);
  EXPECT_EQ(TargetDType(DTypeChoice::kFp16), weights::DType::kF16);
  EXPECT_EQ(TargetDType(DTypeChoice::kKeep), std::nullopt);

  // A rerun reuses the staged file (here made recognisable) instead of converting again.
  ASSERT_TRUE(core::WriteFileAtomically((*out)[unet], BF16Weights()).ok());
  auto again = StageFiles(plan, src, staging, weights::DType::kBF16, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(core::ReadFile((*again)[unet]).value(), BF16Weights());

  // keep: every file as fetched.
  auto keep = StageFiles(plan, src, work_.path() / "keep", std::nullopt, false);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(*keep, src);
  EXPECT_FALSE(fs::exists(work_.path() / "keep"));
}

TEST_F(LocalPipeline, BuildManifestHashesEveryOutputUnderItsDestinationName) {
  Plan plan = LocalPlan();
  auto src = FetchSources(plan, nullptr, 4, false).value();
  auto manifest = BuildManifest(plan, src, false);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->source_repo, plan.source_repo);
  EXPECT_EQ(manifest->recipe, plan.recipe);
  ASSERT_EQ(manifest->files.size(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    const auto& e = manifest->files[i];
    EXPECT_EQ(e.path, plan.selection.files[i].dest_path);
    const std::string bytes = core::ReadFile(src[i]).value();
    EXPECT_EQ(e.size, bytes.size());
    EXPECT_EQ(e.sha256, core::Sha256Hex(bytes));
    EXPECT_EQ(e.safetensors.has_value(), e.path.ends_with(".safetensors")) << e.path;
  }
  EXPECT_FALSE(BuildManifest(plan, {}, false).ok());  // one output per file
}

weights::FileEntry Entry(const std::string& path, uint64_t size, char sha) {
  weights::FileEntry e;
  e.path = path;
  e.size = size;
  e.sha256 = std::string(64, sha);
  return e;
}

TEST(PlanUploads, JournaledFilesTheBucketStillShowsAreDone) {
  weights::Manifest m;
  m.files = {Entry("a", 10, 'a'), Entry("b", 20, 'b'), Entry("c", 30, 'c'), Entry("d", 40, 'd')};
  std::map<std::string, storage::ObjectInfo> objects = {
      {"a", {"a", 10, "ea", ""}},   // journaled, same etag: done
      {"b", {"b", 20, "eb2", ""}},  // journaled, but the object changed since: redo
      {"c", {"c", 30, "ec", ""}},   // not journaled: redo
  };
  Journal journal = {{"a", {std::string(64, 'a'), 10, "ea"}},
                     {"b", {std::string(64, 'b'), 20, "eb"}},
                     {"old", {std::string(64, 'o'), 5, "eo"}},  // not in the model
                     {"d", {std::string(64, 'x'), 40, "ed"}}};  // other content
  UploadPlan plan = PlanUploads(m, objects, journal);
  EXPECT_EQ(plan.reused, 1u);
  EXPECT_EQ(plan.todo, (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(journal.size(), 2u);  // "old" and the stale "d" are dropped
  EXPECT_TRUE(journal.count("a") && journal.count("b"));
}

TEST(SeedJournal, FilesOfThePreviousModelWithTheSameContentCount) {
  weights::Manifest m;
  m.files = {Entry("same", 10, 's'), Entry("changed", 20, 'n'), Entry("new", 5, 'w')};
  BucketState bucket;
  bucket.remote = weights::Manifest{};
  bucket.remote->files = {Entry("changed", 20, 'o'), Entry("same", 10, 's')};
  bucket.objects = {{"same", {"same", 10, "es", ""}}, {"changed", {"changed", 20, "ec", ""}}};
  Journal j = SeedJournal({{"new", {std::string(64, 'w'), 5, "ew"}}}, m, bucket);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j["same"].etag, "es");
  EXPECT_EQ(j["new"].etag, "ew");
  bucket.remote.reset();  // no previous model: the stored journal as it is
  EXPECT_EQ(SeedJournal({}, m, bucket).size(), 0u);
}

TEST_F(LocalPipeline, InspectUploadPublishThenTheBucketHoldsTheModel) {
  Plan plan = LocalPlan();
  auto src = FetchSources(plan, nullptr, 4, false).value();
  auto manifest = BuildManifest(plan, src, false).value();
  storage::LocalObjectStore store(bucket_.path());

  auto empty = InspectBucket(store);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_FALSE(empty->remote.has_value());
  EXPECT_TRUE(empty->objects.empty());
  EXPECT_FALSE(empty->HoldsModel(manifest));

  ASSERT_TRUE(store.Put("stray.bin", "x", "").ok());
  std::vector<size_t> all(manifest.files.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  Journal journal;
  auto bytes = UploadFiles(store, manifest, src, all, journal, 3, false);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, manifest.total_bytes());
  EXPECT_EQ(journal.size(), manifest.files.size());
  for (const auto& e : manifest.files) {
    EXPECT_EQ(store.GetObject(e.path).value(), core::ReadFile(src_ / e.path).value()) << e.path;
    EXPECT_EQ(journal[e.path].sha256, e.sha256);
  }
  EXPECT_TRUE(store.Head(std::string(kUploadJournalName)).ok());  // saved along the way

  auto before = InspectBucket(store).value();
  ASSERT_TRUE(PublishManifest(store, manifest, before.objects).ok());
  EXPECT_FALSE(store.Head(std::string(kUploadJournalName)).ok());
  auto after = InspectBucket(store);
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(after->remote.has_value());
  EXPECT_TRUE(after->HoldsModel(manifest));
  EXPECT_TRUE(after->HoldsModelOf(plan.source_repo, "", plan.recipe));
  EXPECT_FALSE(after->HoldsModelOf(plan.source_repo, "other-commit", plan.recipe));
  // Everything is in the bucket: a seeded journal leaves nothing to upload.
  Journal seeded = SeedJournal({}, manifest, *after);
  EXPECT_TRUE(PlanUploads(manifest, after->objects, seeded).todo.empty());

  // A manifest that cannot be read is not a model (it will be replaced).
  ASSERT_TRUE(store.Put(weights::kManifestFileName, "{", "application/json").ok());
  auto broken = InspectBucket(store);
  ASSERT_TRUE(broken.ok());
  EXPECT_FALSE(broken->remote.has_value());
  EXPECT_TRUE(broken->objects.count(std::string(weights::kManifestFileName)));
}

class LocalOpener : public ModelStoreOpener {
 public:
  core::Result<std::unique_ptr<storage::ObjectStore>> Open(const std::string& location) override {
    auto loc = storage::ParseLocation(location);
    if (!loc.ok()) return loc.status();
    return std::unique_ptr<storage::ObjectStore>(
        std::make_unique<storage::LocalObjectStore>(loc->path));
  }
};

TEST_F(LocalPipeline, PrepareModelRunsThePhasesAndASecondRunUploadsNothing) {
  options_.model_path = "org/tiny";
  LocalOpener opener;
  auto first = PrepareModel(options_, nullptr, opener);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->was_complete);
  EXPECT_EQ(first->files, 14u);
  EXPECT_EQ(first->files_uploaded, 14u);
  EXPECT_TRUE(fs::exists(bucket_.path() / "org/tiny" / weights::kManifestFileName));
  auto second = PrepareModel(options_, nullptr, opener);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->was_complete);
  EXPECT_EQ(second->files_uploaded, 0u);
}

}  // namespace
}  // namespace sdxl::prepare
