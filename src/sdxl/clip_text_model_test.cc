// Unit tests for ClipTextModel and the module loader (numerical parity with transformers lives in
// tests/parity/test_text_encoder_parity.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "sdxl/clip_text_model.h"
#include "sdxl/module_loader.h"
#include "sdxl/tensor_io.h"
#include "sdxl/testing/async_copy_queue.h"

namespace sdxl::sdxl {
namespace {

namespace fs = std::filesystem;

ClipTextConfig TinyConfig(bool projection, int eos) {
  auto cfg = ClipTextConfig::FromJson(
      std::string(R"({"vocab_size": 50, "hidden_size": 16, "intermediate_size": 24,
          "num_hidden_layers": 3, "num_attention_heads": 4, "max_position_embeddings": 10,
          "projection_dim": 8, "hidden_act": "gelu", "eos_token_id": )") +
      std::to_string(eos) + R"(, "architectures": [")" +
      (projection ? "CLIPTextModelWithProjection" : "CLIPTextModel") + R"("]})");
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  return *cfg;
}

// A random state dict for `model`, with file keys as transformers 5.x writes them.
std::map<std::string, torch::Tensor> RandomState(ClipTextModel& model, bool strip_prefix) {
  torch::manual_seed(7);
  std::map<std::string, torch::Tensor> state;
  for (auto& p : model->named_parameters()) {
    std::string key = p.key();
    if (strip_prefix && key.rfind("text_model.", 0) == 0) key = key.substr(11);
    state[key] = torch::randn(p.value().sizes()) * 0.2;
  }
  return state;
}

class ClipTextModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("clip_model_test_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  // Not fs::remove_all: libtorch.so exports its own std::filesystem::remove_all, which crashes
  // when called from this binary (symbol interposition). The tests write only these files.
  void TearDown() override {
    std::remove((dir_ / "model.safetensors").c_str());
    std::remove(dir_.c_str());
  }
  fs::path dir_;
};

TEST_F(ClipTextModelTest, RegistersTransformersKeyNames) {
  ClipTextModel model(TinyConfig(true, 2));
  std::set<std::string> keys;
  for (auto& p : model->named_parameters()) keys.insert(p.key());
  EXPECT_TRUE(keys.count("text_model.embeddings.token_embedding.weight"));
  EXPECT_TRUE(keys.count("text_model.embeddings.position_embedding.weight"));
  EXPECT_TRUE(keys.count("text_model.encoder.layers.2.self_attn.q_proj.bias"));
  EXPECT_TRUE(keys.count("text_model.encoder.layers.0.mlp.fc2.weight"));
  EXPECT_TRUE(keys.count("text_model.final_layer_norm.weight"));
  EXPECT_TRUE(keys.count("text_projection.weight"));
  EXPECT_FALSE(keys.count("text_projection.bias"));
  EXPECT_EQ(keys.size(), 2u + 3u * 16u + 2u + 1u);
}

TEST_F(ClipTextModelTest, LoadsSafetensorsAndRunsCausally) {
  ClipTextModel model(TinyConfig(true, 2));
  auto state = RandomState(model, /*strip_prefix=*/false);
  state["text_model.embeddings.position_ids"] = torch::arange(10).unsqueeze(0);  // old buffer
  ASSERT_TRUE(WriteTensors(dir_ / "model.safetensors", state).ok());
  auto report = LoadModuleWeights(*model, {dir_ / "model.safetensors"});
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->tensors_loaded, 53u);
  EXPECT_EQ(report->ignored_unexpected,
            std::vector<std::string>{"text_model.embeddings.position_ids"});
  EXPECT_TRUE(torch::equal(model->named_parameters()["text_model.final_layer_norm.weight"],
                           state["text_model.final_layer_norm.weight"]));

  torch::Tensor ids = torch::tensor({{48, 5, 7, 49, 3, 3}}, torch::kLong);
  ClipTextOutput out = model->Forward(ids);
  EXPECT_EQ(out.penultimate.sizes(), (std::vector<int64_t>{1, 6, 16}));
  EXPECT_EQ(out.last_hidden_state.sizes(), (std::vector<int64_t>{1, 6, 16}));
  EXPECT_EQ(out.text_embeds.sizes(), (std::vector<int64_t>{1, 8}));
  // eos_token_id == 2 (legacy): pooled at argmax(ids) = position 3 (id 49).
  EXPECT_TRUE(torch::allclose(out.pooled[0], out.last_hidden_state[0][3]));
  // Causal: changing token 4 leaves positions 0..3 unchanged.
  torch::Tensor ids2 = ids.clone();
  ids2[0][4] = 11;
  ClipTextOutput out2 = model->Forward(ids2);
  EXPECT_TRUE(torch::allclose(out.penultimate.slice(1, 0, 4), out2.penultimate.slice(1, 0, 4)));
  EXPECT_FALSE(torch::allclose(out.penultimate.slice(1, 4, 5), out2.penultimate.slice(1, 4, 5)));
  // An all-ones attention mask changes nothing; masking a key changes later positions only.
  ClipTextOutput ones = model->Forward(ids, torch::ones({1, 6}, torch::kLong));
  EXPECT_TRUE(torch::allclose(ones.penultimate, out.penultimate, 1e-6, 1e-6));
  torch::Tensor mask = torch::ones({1, 6}, torch::kLong);
  mask[0][2] = 0;
  ClipTextOutput masked = model->Forward(ids, mask);
  EXPECT_TRUE(torch::allclose(masked.penultimate.slice(1, 0, 2), out.penultimate.slice(1, 0, 2)));
  EXPECT_FALSE(torch::allclose(masked.penultimate.slice(1, 3, 6), out.penultimate.slice(1, 3, 6)));
  // penultimate_only skips the last layer but gives the same hidden_states[-2].
  ClipTextOutput pen = model->Forward(ids, {}, /*penultimate_only=*/true);
  EXPECT_TRUE(torch::equal(pen.penultimate, out.penultimate));
  EXPECT_FALSE(pen.last_hidden_state.defined());
}

TEST_F(ClipTextModelTest, NewStyleEosPoolsAtFirstEos) {
  ClipTextModel model(TinyConfig(false, 3));
  auto state = RandomState(model, /*strip_prefix=*/true);  // transformers 5.x CLIPTextModel keys
  ModuleLoadOptions opts;
  opts.file_prefix_renames = {{"embeddings.", "text_model.embeddings."},
                              {"encoder.", "text_model.encoder."},
                              {"final_layer_norm.", "text_model.final_layer_norm."}};
  ASSERT_TRUE(LoadModuleState(*model, state, opts).ok());
  torch::Tensor ids = torch::tensor({{1, 3, 40, 3}, {1, 2, 4, 3}}, torch::kLong);
  ClipTextOutput out = model->Forward(ids);
  EXPECT_TRUE(torch::allclose(out.pooled[0], out.last_hidden_state[0][1]));
  EXPECT_TRUE(torch::allclose(out.pooled[1], out.last_hidden_state[1][3]));
  EXPECT_FALSE(out.text_embeds.defined());
}

TEST_F(ClipTextModelTest, MismatchListsMissingUnexpectedAndShapesAndLeavesModelUntouched) {
  ClipTextModel model(TinyConfig(true, 2));
  auto good = RandomState(model, false);
  ASSERT_TRUE(LoadModuleState(*model, good).ok());
  auto bad = RandomState(model, false);
  bad.erase("text_projection.weight");
  bad["text_model.encoder.layers.0.mlp.fc1.weight"] = torch::zeros({5, 5});
  bad["lm_head.weight"] = torch::zeros({2});
  auto r = LoadModuleState(*model, bad);
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("missing 1: text_projection.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected 1: lm_head.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("text_model.encoder.layers.0.mlp.fc1.weight (file [5, 5], model [24, 16])"),
            std::string::npos)
      << msg;
  // Nothing was written.
  EXPECT_TRUE(torch::equal(model->named_parameters()["text_model.final_layer_norm.bias"],
                           good["text_model.final_layer_norm.bias"]));
}

TEST_F(ClipTextModelTest, ConvertsDtypeOnLoad) {
  ClipTextModel model(TinyConfig(true, 2));
  auto state = RandomState(model, false);
  std::map<std::string, torch::Tensor> half;
  for (auto& [k, v] : state) half[k] = v.to(torch::kBFloat16);
  ASSERT_TRUE(WriteTensors(dir_ / "model.safetensors", half).ok());
  auto files = FindComponentWeights(dir_);
  ASSERT_TRUE(files.ok()) << files.status().message();
  ASSERT_TRUE(LoadModuleWeights(*model, *files).ok());  // BF16 file -> F32 model
  auto w = model->named_parameters()["text_projection.weight"];
  EXPECT_EQ(w.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(w, half["text_projection.weight"].to(torch::kFloat32)));
  ModuleLoadOptions to_half;
  to_half.dtype = torch::kFloat16;
  ASSERT_TRUE(LoadModuleWeights(*model, *files, to_half).ok());
  EXPECT_EQ(model->named_parameters()["text_projection.weight"].scalar_type(), torch::kFloat16);
}

// A WeightSource over a local file that hands out the data in small pieces of random sizes, in
// random order, from several threads (as parallel ranged downloads do), so that pieces cut
// elements apart. `fail_after` > 0: the stream fails after that many pieces; `drop_last`: one
// piece is never delivered although Stream reports success.
class ChoppySource : public weights::WeightSource {
 public:
  int fail_after = 0;
  bool drop_last = false;
  core::Status WaitForComponent(const std::string&) override { return core::Status::Ok(); }
  bool HasFile(const fs::path& path) override { return fs::exists(path); }
  core::Result<weights::SafetensorsHeader> ReadHeader(const fs::path& path) override {
    return weights::ReadSafetensorsHeaderFromFile(path);
  }
  core::Status Stream(const fs::path& path, const weights::WeightSink& sink) override {
    std::ifstream in(path, std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), {});
    std::mt19937 rng(11);
    std::vector<std::pair<std::size_t, std::size_t>> pieces;
    for (std::size_t at = 0; at < file.size();) {
      const std::size_t n = std::min<std::size_t>(file.size() - at, 1 + rng() % 777);
      pieces.emplace_back(at, n);
      at += n;
    }
    std::shuffle(pieces.begin(), pieces.end(), rng);
    if (drop_last) pieces.pop_back();
    std::atomic<std::size_t> next{0};
    std::atomic<int> delivered{0};
    std::mutex mu;
    core::Status first;
    auto work = [&] {
      for (std::size_t i = next++; i < pieces.size(); i = next++) {
        if (fail_after > 0 && delivered++ >= fail_after) {
          std::lock_guard<std::mutex> lock(mu);
          first = core::DataLoss("connection reset mid-tensor");
          return;
        }
        const auto [at, n] = pieces[i];
        core::Status st = sink(at, std::as_bytes(std::span(file).subspan(at, n)));
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          first = st;
          return;
        }
      }
    };
    std::thread a(work), b(work);
    work();
    a.join();
    b.join();
    return first;
  }
  void Cancel(const core::Status&) override {}
};

TEST_F(ClipTextModelTest, StreamedPiecesOfAnySizeAndOrderLoadTheSameTensors) {
  ClipTextModel reference(TinyConfig(true, 2));
  auto state = RandomState(reference, false);
  std::map<std::string, torch::Tensor> half;
  for (auto& [k, v] : state) half[k] = v.to(torch::kBFloat16);
  half["text_model.embeddings.position_ids"] = torch::arange(10).unsqueeze(0);  // int64 buffer
  ASSERT_TRUE(WriteTensors(dir_ / "model.safetensors", half).ok());
  const std::vector<fs::path> files{dir_ / "model.safetensors"};
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
    // Converted piece by piece, per whole tensor, or through a staging ring on an asynchronous
    // queue (what a CUDA target does: bytes to "device", converted there once complete).
    for (const std::string mode : {"pieces", "whole", "ring"}) {
      SCOPED_TRACE(mode);
      ModuleLoadOptions from_disk;
      from_disk.dtype = dtype;
      ASSERT_TRUE(LoadModuleWeights(*reference, files, from_disk).ok());
      ClipTextModel model(TinyConfig(true, 2));
      ChoppySource choppy;
      testing::AsyncCpuCopyQueue queue(/*seed=*/2, /*max_delay_us=*/20);
      ModuleLoadOptions streamed = from_disk;
      streamed.source = &choppy;
      streamed.stage_whole_tensors = mode == "whole";
      if (mode == "ring") streamed.copy_queue = &queue;
      auto report = LoadModuleWeights(*model, files, streamed);
      ASSERT_TRUE(report.ok()) << report.status().message();
      if (mode == "ring") {
        EXPECT_GT(report->staging_host_bytes, 0u);
        EXPECT_EQ(report->staging_host_bytes, queue.host_bytes_allocated());
      } else {
        EXPECT_EQ(report->staging_host_bytes, 0u);
      }
      auto want = reference->named_parameters();
      for (auto& p : model->named_parameters()) {
        EXPECT_EQ(p.value().scalar_type(), dtype) << p.key();
        EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
      }
    }
  }
}

TEST_F(ClipTextModelTest, AStreamThatFailsOrComesShortIsAnError) {
  ClipTextModel model(TinyConfig(true, 2));
  ASSERT_TRUE(WriteTensors(dir_ / "model.safetensors", RandomState(model, false)).ok());
  const std::vector<fs::path> files{dir_ / "model.safetensors"};
  ChoppySource failing;
  failing.fail_after = 20;
  ModuleLoadOptions options;
  options.source = &failing;
  auto failed = LoadModuleWeights(*model, files, options);
  EXPECT_EQ(failed.status().code(), core::Code::kDataLoss);
  EXPECT_NE(failed.status().message().find("connection reset"), std::string::npos);
  for (const bool ring : {false, true}) {
    ChoppySource short_source;
    short_source.drop_last = true;
    testing::AsyncCpuCopyQueue queue;
    options.source = &short_source;
    options.copy_queue = ring ? &queue : nullptr;
    auto short_load = LoadModuleWeights(*model, files, options);
    EXPECT_EQ(short_load.status().code(), core::Code::kDataLoss);
    EXPECT_NE(short_load.status().message().find("delivered short"), std::string::npos)
        << short_load.status().message();
    ChoppySource failing_ring;
    failing_ring.fail_after = 7;
    options.source = &failing_ring;
    EXPECT_EQ(LoadModuleWeights(*model, files, options).status().code(), core::Code::kDataLoss);
  }
}

TEST(ClipTextConfigTest, RejectsBadConfigsClearly) {
  EXPECT_FALSE(ClipTextConfig::FromJson(R"({"hidden_size": 10, "num_attention_heads": 3})").ok());
  auto act = ClipTextConfig::FromJson(R"({"hidden_act": "swish"})");
  ASSERT_FALSE(act.ok());
  EXPECT_NE(act.status().message().find("swish"), std::string::npos);
  EXPECT_FALSE(ClipTextConfig::FromJson("not json").ok());
  auto missing = FindComponentWeights("/nonexistent/text_encoder");
  EXPECT_EQ(missing.status().code(), core::Code::kNotFound);
}

}  // namespace
}  // namespace sdxl::sdxl
