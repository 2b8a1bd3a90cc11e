#include "weights/manifest.h"

#include <gtest/gtest.h>

#include "core/hash.h"
#include "weights/test_util.h"

namespace sdxl::weights {
namespace {

using testing::Bytes;
using testing::FileBytes;
using testing::TempDir;

std::string Pattern(size_t n, int seed = 1) {
  std::string s(n, '\0');
  std::uint32_t x = static_cast<std::uint32_t>(seed);
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(Manifest, NumChunks) {
  EXPECT_EQ(NumChunks(0, 8), 0u);
  EXPECT_EQ(NumChunks(1, 8), 1u);
  EXPECT_EQ(NumChunks(8, 8), 1u);
  EXPECT_EQ(NumChunks(9, 8), 2u);
  EXPECT_EQ(NumChunks(UINT64_MAX, 1ull << 23), (UINT64_MAX >> 23) + 1);
}

// Sizes 0, 1, chunk-1, chunk, chunk+1, 3 chunks: chunk hashes equal the XXH3 of each range.
TEST(Manifest, ChunkHashesAtBoundaries) {
  TempDir dir;
  const std::uint64_t chunk = 4096;
  for (std::uint64_t size :
       std::vector<std::uint64_t>{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk}) {
    const std::string data = Pattern(size, static_cast<int>(size));
    dir.Write("f.bin", data);
    auto e = BuildFileEntry(dir / "f.bin", "sub/f.bin", chunk);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->path, "sub/f.bin");
    EXPECT_EQ(e->size, size);
    EXPECT_EQ(e->sha256, core::Sha256Hex(data));
    ASSERT_EQ(e->num_chunks(), NumChunks(size, chunk)) << size;
    EXPECT_FALSE(e->safetensors.has_value());
    for (std::uint64_t i = 0; i < e->num_chunks(); ++i) {
      core::ByteRange r = e->ChunkRange(i);
      EXPECT_EQ(r.offset, i * chunk);
      EXPECT_EQ(r.end(), std::min(size, (i + 1) * chunk));
      std::string piece = data.substr(r.offset, r.length);
      EXPECT_EQ(e->chunk_xxh3[i], core::Xxh3_64Of(piece));
      EXPECT_TRUE(VerifyChunk(*e, i, Bytes(piece)).ok());
    }
    EXPECT_TRUE(VerifyFile(*e, dir / "f.bin").ok()) << size;
  }
}

TEST(Manifest, ChunkSizeSmallerThanReadBlockAndOdd) {
  TempDir dir;
  const std::string data = Pattern(10000);
  dir.Write("f", data);
  auto e = BuildFileEntry(dir / "f", "f", 7);
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->num_chunks(), 1429u);
  EXPECT_EQ(e->chunk_xxh3.back(), core::Xxh3_64Of(data.substr(9996)));
  EXPECT_EQ(e->chunk_xxh3[5], core::Xxh3_64Of(data.substr(35, 7)));
}

TEST(Manifest, VerifyChunkRejectsCorruption) {
  TempDir dir;
  const std::string data = Pattern(10);
  dir.Write("f", data);
  auto e = BuildFileEntry(dir / "f", "f", 4);
  ASSERT_TRUE(e.ok());
  std::string bad = data.substr(4, 4);
  bad[0] ^= 1;
  auto s = VerifyChunk(*e, 1, Bytes(bad));
  EXPECT_EQ(s.code(), core::Code::kDataLoss);
  EXPECT_TRUE(s.retryable());
  EXPECT_NE(s.message().find("chunk 1 of f (bytes 4-7) is corrupt"), std::string::npos)
      << s.message();
  EXPECT_EQ(VerifyChunk(*e, 2, Bytes(data.substr(8, 1))).code(), core::Code::kDataLoss);  // short
  EXPECT_EQ(VerifyChunk(*e, 3, Bytes("")).code(), core::Code::kInvalidArgument);
  // A modified file fails VerifyFile.
  std::string changed = data;
  changed[9] ^= 0x40;
  dir.Write("f", changed);
  EXPECT_EQ(VerifyFile(*e, dir / "f").code(), core::Code::kDataLoss);
  dir.Write("f", data + "x");
  EXPECT_EQ(VerifyFile(*e, dir / "f").code(), core::Code::kDataLoss);
}

TEST(Manifest, SafetensorsFilesGetATensorIndex) {
  TempDir dir;
  dir.Write("unet/m.safetensors",
            FileBytes(R"({"__metadata__":{"format":"pt"},)"
                      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
                      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      Pattern(12)));
  auto e = BuildFileEntry(dir / "unet/m.safetensors", "unet/m.safetensors", 16);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(e->safetensors.has_value());
  EXPECT_EQ(e->safetensors->tensors().size(), 2u);
  EXPECT_EQ(e->safetensors->Find("b")->dtype, DType::kBF16);
  EXPECT_EQ(e->safetensors->file_size(), e->size);
  EXPECT_EQ(e->safetensors->metadata().at("format"), "pt");
  // A corrupt .safetensors is an error, not a silently index-less entry.
  dir.Write("bad.safetensors", FileBytes("{", ""));
  auto bad = BuildFileEntry(dir / "bad.safetensors", "bad.safetensors", 16);
  EXPECT_EQ(bad.status().code(), core::Code::kDataLoss);
  EXPECT_NE(bad.status().message().find("bad.safetensors"), std::string::npos);
}

Manifest SampleManifest(const TempDir& dir) {
  dir.Write("model_index.json", R"({"_class_name": "StableDiffusionXLPipeline"})");
  dir.Write("unet/diffusion_pytorch_model.safetensors",
            FileBytes(R"({"w":{"dtype":"F16","shape":[3,2],"data_offsets":[0,12]}})", Pattern(12)));
  dir.Write("empty.txt", "");
  dir.Write(".cache/huggingface/x", "ignored");
  dir.Write(std::string(kManifestFileName), "{}");
  Manifest m;
  m.source_repo = "ByteDance/SDXL-Lightning";
  m.source_revision = "c9a24f48e1c025556787b0c58dd67a091ece2e44";
  m.recipe = {{"scheduler", "lightning"}, {"steps", 4}, {"guidance", 0.0}, {"dtype", "bf16"}};
  auto files = BuildFileEntries(dir.path(), 5);
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  if (files.ok()) m.files = std::move(files).value();
  return m;
}

TEST(Manifest, BuildFileEntriesWalksSortedAndSkipsHiddenAndItself) {
  TempDir dir;
  Manifest m = SampleManifest(dir);
  ASSERT_EQ(m.files.size(), 3u);
  EXPECT_EQ(m.files[0].path, "empty.txt");
  EXPECT_EQ(m.files[1].path, "model_index.json");
  EXPECT_EQ(m.files[2].path, "unet/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(m.files[0].num_chunks(), 0u);
  EXPECT_TRUE(m.files[2].safetensors.has_value());
  EXPECT_EQ(m.Find("model_index.json"), &m.files[1]);
  EXPECT_EQ(m.Find("nope"), nullptr);
  EXPECT_EQ(m.total_bytes(), m.files[1].size + m.files[2].size);
}

TEST(Manifest, JsonRoundTripIsLosslessAndDeterministic) {
  TempDir dir;
  Manifest m = SampleManifest(dir);
  const std::string text = ManifestToJson(m);
  auto back = ParseManifest(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->source_repo, m.source_repo);
  EXPECT_EQ(back->source_revision, m.source_revision);
  EXPECT_EQ(back->recipe, m.recipe);
  ASSERT_EQ(back->files.size(), m.files.size());
  for (size_t i = 0; i < m.files.size(); ++i) {
    const FileEntry& a = m.files[i];
    const FileEntry& b = back->files[i];
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.size, b.size);
    EXPECT_EQ(a.sha256, b.sha256);
    EXPECT_EQ(a.chunk_size, b.chunk_size);
    EXPECT_EQ(a.chunk_xxh3, b.chunk_xxh3);
    ASSERT_EQ(a.safetensors.has_value(), b.safetensors.has_value());
    if (a.safetensors) {
      EXPECT_EQ(a.safetensors->tensors(), b.safetensors->tensors());
      EXPECT_EQ(a.safetensors->header_size(), b.safetensors->header_size());
    }
  }
  EXPECT_EQ(ManifestToJson(*back), text);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\"chunk_xxh3\": ["), std::string::npos);

  ASSERT_TRUE(WriteManifestFile(m, dir / "out.json").ok());
  auto read = ReadManifestFile(dir / "out.json");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(ManifestToJson(*read), text);
  EXPECT_EQ(ReadManifestFile(dir / "missing.json").status().code(), core::Code::kNotFound);
}

// Applies `mutate` to the JSON of a valid manifest and expects ParseManifest to fail with a
// message containing `fragment`.
void ExpectRejected(const std::function<void(nlohmann::json&)>& mutate, std::string_view fragment) {
  TempDir dir;
  nlohmann::json j = nlohmann::json::parse(ManifestToJson(SampleManifest(dir)));
  mutate(j);
  auto r = ParseManifest(j.dump());
  ASSERT_FALSE(r.ok()) << "accepted: " << j.dump();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST(Manifest, RejectsMalformedManifests) {
  EXPECT_FALSE(ParseManifest("").ok());
  EXPECT_FALSE(ParseManifest("[]").ok());
  EXPECT_FALSE(ParseManifest(R"({"format_version":1,"format_version":1})").ok());
  auto future = ParseManifest(R"({"format_version":2})");
  EXPECT_EQ(future.status().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(future.status().message().find("upgrade sdxl-tigris"), std::string::npos);

  using J = nlohmann::json;
  ExpectRejected([](J& j) { j.erase("files"); }, "missing \"files\"");
  ExpectRejected([](J& j) { j["extra"] = 1; }, "unexpected field \"extra\"");
  ExpectRejected([](J& j) { j["recipe"] = "bf16"; }, "recipe must be an object");
  ExpectRejected([](J& j) { j["source"].erase("revision"); }, "missing \"revision\"");
  ExpectRejected([](J& j) { j["format_version"] = "1"; }, "must be an integer");
  ExpectRejected([](J& j) { j["files"][1]["path"] = "../etc/passwd"; }, "safe relative path");
  ExpectRejected([](J& j) { j["files"][1]["path"] = "/abs"; }, "safe relative path");
  ExpectRejected([](J& j) { j["files"][1]["path"] = "a//b"; }, "safe relative path");
  ExpectRejected([](J& j) { j["files"][1]["path"] = "empty.txt"; }, "listed twice");
  ExpectRejected([](J& j) { j["files"][1]["size"] = -1; }, "non-negative integer");
  ExpectRejected([](J& j) { j["files"][1]["size"] = 1000; }, "chunk hashes for");
  ExpectRejected([](J& j) { j["files"][1]["sha256"] = std::string(64, 'A'); }, "sha256");
  ExpectRejected([](J& j) { j["files"][1]["chunk_size"] = 0; }, "chunk_size must be positive");
  ExpectRejected([](J& j) { j["files"][1]["chunk_xxh3"][0] = "xyz"; }, "16 hex digits");
  ExpectRejected([](J& j) { j["files"][1]["chunk_xxh3"].push_back("0000000000000000"); },
                 "chunk hashes for");
  ExpectRejected([](J& j) { j["files"][2]["safetensors"]["header_size"] = 1; }, "tensor index");
  ExpectRejected([](J& j) { j["files"][2]["safetensors"]["tensors"][0]["dtype"] = "F17"; },
                 "unknown dtype");
  ExpectRejected(
      [](J& j) {
        j["files"][2]["safetensors"]["tensors"][0]["data_offsets"] = {0, 10};
      },
      "needs 12");
  ExpectRejected(
      [](J& j) {
        j["files"][2]["safetensors"]["tensors"][0]["shape"] = {3, -2};
      },
      "non-negative");
  ExpectRejected(
      [](J& j) {
        j["files"][2]["safetensors"]["metadata"] = {{"k", 1}};
      },
      "metadata values must be strings");
}

TEST(Manifest, SafePaths) {
  EXPECT_TRUE(IsSafeManifestPath("unet/diffusion_pytorch_model.safetensors"));
  EXPECT_TRUE(IsSafeManifestPath("model_index.json"));
  EXPECT_TRUE(IsSafeManifestPath("a/..b/c."));
  for (std::string_view bad :
       std::vector<std::string_view>{"", "/abs", "a/", "a//b", "./a", "a/./b", "../a", "a/..",
                                     "a\\b", std::string_view("a\0b", 3)}) {
    EXPECT_FALSE(IsSafeManifestPath(bad)) << bad;
  }
}

TEST(Manifest, BuildRejectsBadArguments) {
  TempDir dir;
  dir.Write("f", "x");
  EXPECT_EQ(BuildFileEntry(dir / "f", "f", 0).status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(BuildFileEntry(dir / "f", "../f").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(BuildFileEntry(dir / "nope", "nope").status().code(), core::Code::kNotFound);
  EXPECT_EQ(BuildFileEntries(dir / "nope").status().code(), core::Code::kNotFound);
}

}  // namespace
}  // namespace sdxl::weights
