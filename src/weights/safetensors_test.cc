#include "weights/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "weights/test_util.h"

namespace sdxl::weights {
namespace {

using testing::Bytes;
using testing::FileBytes;
using testing::TempDir;

core::Result<SafetensorsHeader> Parse(const std::string& file) {
  auto b = Bytes(file);
  return ParseSafetensorsHeader(b, b.size());
}

// Expects a DataLoss whose message contains `fragment`.
void ExpectReject(const std::string& file, std::string_view fragment) {
  auto r = Parse(file);
  ASSERT_FALSE(r.ok()) << "accepted: " << file;
  EXPECT_EQ(r.status().code(), core::Code::kDataLoss);
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

std::string Floats(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    float f = static_cast<float>(i);
    out.append(reinterpret_cast<const char*>(&f), 4);
  }
  return out;
}

// ---- byte-exact vectors from the reference implementation's tests ----

TEST(SafetensorsSerialize, EmptyHeaderIsBracesPaddedToEight) {
  auto h = SerializeSafetensorsHeader({}, {});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
}

TEST(SafetensorsSerialize, MetadataOnlyIs40Bytes) {
  auto h = SerializeSafetensorsHeader({}, {{"framework", "pt"}});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, FileBytes(R"({"__metadata__":{"framework":"pt"}})"
                          "     "));
  EXPECT_EQ((*h)[0], 40);
}

TEST(SafetensorsWriter, ReferenceSerializationOfF32Tensor) {
  TempDir dir;
  auto w = SafetensorsWriter::Create(dir / "a.safetensors", {{"attn.0", DType::kF32, {1, 2, 3}}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::string data = Floats(6);
  ASSERT_TRUE(w->Write("attn.0", Bytes(data)).ok());
  ASSERT_TRUE(w->Finish().ok());
  const std::string json = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(json.size(), 64u);
  EXPECT_EQ(dir.Read("a.safetensors"), FileBytes(json, data));
}

TEST(SafetensorsWriter, ForcedAlignmentPadsWithSpaces) {
  auto h = SerializeSafetensorsHeader({{"attn0", DType::kF32, {1, 1, 2, 3}, 0, 24, 6}}, {});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)[0], 72);
  EXPECT_EQ(h->substr(h->size() - 8), "}       ");
}

TEST(SafetensorsWriter, F4PacksTwoPerByte) {
  auto h = SerializeSafetensorsHeader({{"attn.0", DType::kF4, {1, 2}, 0, 1, 2}}, {});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)[0], 64);
  EXPECT_EQ(h->substr(h->size() - 5), "}    ");
  EXPECT_TRUE(Parse(*h + "\x7f").ok());
  // [1,3] F4 is 12 bits: not a whole number of bytes.
  ExpectReject(FileBytes(R"({"x":{"dtype":"F4","shape":[1,3],"data_offsets":[0,2]}})", "ab"),
               "whole number of bytes");
  // [1,2] F4 in 2 bytes: wrong size.
  ExpectReject(FileBytes(R"({"x":{"dtype":"F4","shape":[1,2],"data_offsets":[0,2]}})", "ab"),
               "needs 1");
}

TEST(SafetensorsWriter, PythonI32Vector) {
  TempDir dir;
  auto w = SafetensorsWriter::Create(dir / "t.safetensors", {{"test", DType::kI32, {2, 2}}});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Write("test", Bytes(std::string(16, '\0'))).ok());
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_EQ(dir.Read("t.safetensors"),
            FileBytes(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})"
                      "    ",
                      std::string(16, '\0')));
}

TEST(SafetensorsWriter, ReferenceOrderPutsLargerDtypesFirstWhateverTheInputOrder) {
  TempDir dir;
  std::string files[2];
  for (int order = 0; order < 2; ++order) {
    std::vector<TensorSpec> specs = {{"test1", DType::kI32, {2, 2}},
                                     {"test2", DType::kF16, {2, 2}}};
    if (order == 1) std::swap(specs[0], specs[1]);
    auto w = SafetensorsWriter::Create(dir / "f.safetensors", specs);
    ASSERT_TRUE(w.ok());
    ASSERT_EQ(w->layout().tensors()[0].name, "test1");
    ASSERT_TRUE(w->Write("test1", Bytes(std::string(16, '\1'))).ok());
    ASSERT_TRUE(w->Write("test2", Bytes(std::string(8, '\2'))).ok());
    ASSERT_TRUE(w->Finish().ok());
    files[order] = dir.Read("f.safetensors");
  }
  EXPECT_EQ(files[0], files[1]);
  EXPECT_EQ(files[0][0], '\x80');
  EXPECT_EQ(files[0].size(), 136u + 24u);
  auto h = Parse(files[0]);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->data_offset(), 136u);
  EXPECT_EQ(h->Find("test1")->data_begin, 0u);
  EXPECT_EQ(h->Find("test2")->data_begin, 16u);
}

TEST(SafetensorsWriter, MetadataIsWrittenFirst) {
  auto h =
      SerializeSafetensorsHeader({{"test", DType::kI32, {2, 2}, 0, 16, 4}}, {{"framework", "pt"}});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)[0], 0x60);
  EXPECT_EQ(h->substr(8, 16), R"({"__metadata__":)");
}

// ---- accepted inputs ----

TEST(SafetensorsParse, ReferenceDeserializationVector) {
  auto h = Parse(FileBytes(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})",
                           std::string(16, '\0')));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->tensors().size(), 1u);
  const TensorInfo& t = h->tensors()[0];
  EXPECT_EQ(t.name, "test");
  EXPECT_EQ(t.dtype, DType::kI32);
  EXPECT_EQ(t.shape, (std::vector<std::uint64_t>{2, 2}));
  EXPECT_EQ(t.num_elements, 4u);
  EXPECT_EQ(t.byte_size(), 16u);
  EXPECT_EQ(h->header_size(), 60u);
  EXPECT_EQ(h->data_offset(), 68u);
  EXPECT_EQ(h->file_size(), 84u);
  EXPECT_TRUE(h->metadata().empty());
}

TEST(SafetensorsParse, ScalarAndZeroSizedTensorsAreAllowed) {
  auto scalar =
      Parse(FileBytes(R"({"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})", "abcd"));
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_EQ(scalar->tensors()[0].num_elements, 1u);
  auto empty = Parse(FileBytes(R"({"e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]}})"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->tensors()[0].num_elements, 0u);
  EXPECT_EQ(empty->data_size(), 0u);
}

TEST(SafetensorsParse, EmptyHeaderAndMetadata) {
  auto h = Parse(FileBytes(R"({"__metadata__":{"format":"pt","x":""}})"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_TRUE(h->tensors().empty());
  EXPECT_EQ(h->metadata().at("format"), "pt");
  EXPECT_EQ(h->metadata().at("x"), "");
  EXPECT_TRUE(Parse(FileBytes("{}")).ok());
  EXPECT_TRUE(Parse(FileBytes(R"({"__metadata__":null})")).ok());
}

TEST(SafetensorsParse, WhitespaceAroundTheObjectIsTolerated) {
  // The reference reader accepts leading whitespace (writers may pad to page size) and any JSON
  // whitespace as trailing padding.
  EXPECT_TRUE(Parse(FileBytes("\t\n{}\r \t\n")).ok());
  EXPECT_TRUE(Parse(FileBytes("{}      ")).ok());
}

TEST(SafetensorsParse, TensorsInAnyJsonOrderAreSortedByOffset) {
  auto h = Parse(FileBytes(R"({"z":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                           R"("a":{"dtype":"U8","shape":[3],"data_offsets":[2,5]},)"
                           R"("m":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})",
                           "12345"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->tensors().size(), 3u);
  EXPECT_EQ(h->tensors()[0].name, "z");
  EXPECT_EQ(h->tensors()[1].name, "m");
  EXPECT_EQ(h->tensors()[2].name, "a");
  EXPECT_EQ(h->Find("a")->data_end, 5u);
  EXPECT_EQ(h->Find("nope"), nullptr);
}

TEST(SafetensorsParse, EveryDtypeNameParses) {
  for (DType d : AllDTypes()) {
    const int bits = DTypeBits(d);
    const std::uint64_t elems = 8;  // multiple of 8 so sub-byte types fill whole bytes
    const std::uint64_t bytes = elems * static_cast<std::uint64_t>(bits) / 8;
    std::string json = std::string(R"({"t":{"dtype":")") + std::string(DTypeName(d)) +
                       R"(","shape":[8],"data_offsets":[0,)" + std::to_string(bytes) + "]}}";
    auto h = Parse(FileBytes(json, std::string(bytes, 'x')));
    ASSERT_TRUE(h.ok()) << DTypeName(d) << ": " << h.status().ToString();
    EXPECT_EQ(h->tensors()[0].dtype, d);
  }
}

// ---- rejected inputs (reference error cases first) ----

TEST(SafetensorsParse, RejectsIncompleteBufferAndTrailingBytes) {
  const std::string json = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
  ExpectReject(FileBytes(json, std::string(16, '\0') + "extra_bogus_data_for_polyglot_file"),
               "trailing bytes");
  ExpectReject(FileBytes(json, std::string(14, '\0')), "truncated");
}

TEST(SafetensorsParse, RejectsBadLengthPrefix) {
  ExpectReject(std::string("<\0\0\0\0\xff\xff\xff", 8), "exceeds");
  ExpectReject("", "shorter than the 8-byte");
  ExpectReject("1234567", "shorter than the 8-byte");
  ExpectReject(std::string("<\0\0\0\0\0\0\0", 8), "runs past the end");
  // Exactly at the cap is allowed by the length check (then fails on the file size).
  ExpectReject(FileBytes("{}", "", kMaxSafetensorsHeaderSize), "runs past the end");
  ExpectReject(FileBytes("{}", "", kMaxSafetensorsHeaderSize + 1), "exceeds");
}

TEST(SafetensorsParse, RejectsNonUtf8AndNonJson) {
  ExpectReject(FileBytes("\xff"), "invalid JSON");
  ExpectReject(FileBytes("{"), "invalid JSON");
  ExpectReject(FileBytes(R"({"a\xff":1})"), "invalid JSON");
  ExpectReject(FileBytes("{}x"), "invalid JSON");
  ExpectReject(FileBytes(std::string("{}\0", 3)), "invalid JSON");
  ExpectReject(FileBytes("[]"), "not a JSON object");
  ExpectReject(FileBytes("\"x\""), "not a JSON object");
  ExpectReject(FileBytes("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
               "not a JSON object");
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[[[[[1]]]]],"data_offsets":[0,1]}})", "1"),
               "non-negative integer");
  ExpectReject(FileBytes(R"({"__metadata__":{"k":{"n":{"m":"v"}}}})"), "not a string");
}

TEST(SafetensorsParse, RejectsSizeMismatchAndOverflow) {
  ExpectReject(FileBytes(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}})", "abcd"),
               "needs 16");
  ExpectReject(FileBytes(R"({"t":{"dtype":"I32","shape":[2,18446744073709551614],)"
                         R"("data_offsets":[0,16]}})"),
               "overflow");
  ExpectReject(FileBytes(R"({"t":{"dtype":"I32","shape":[2,9223372036854775807],)"
                         R"("data_offsets":[0,16]}})"),
               "overflow");
  ExpectReject(FileBytes(R"({"t":{"dtype":"F64","shape":[4611686018427387904],)"
                         R"("data_offsets":[0,16]}})"),
               "overflow");
}

TEST(SafetensorsParse, RejectsAliasedOverlappingAndGappedOffsets) {
  std::string attack = "{";
  for (int i = 0; i < 10; ++i) {
    if (i) attack += ",";
    attack +=
        "\"t" + std::to_string(i) + R"(":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]})";
  }
  attack += "}";
  ExpectReject(FileBytes(attack, std::string(16, '\0')), "no gaps or overlaps");
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                         "123456"),
               "no gaps or overlaps");
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                         R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                         "12345"),
               "no gaps or overlaps");
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "123"),
               "no gaps or overlaps");
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}})", "123"),
               "before begin");
}

TEST(SafetensorsParse, RejectsDuplicateKeys) {
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                         R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                         "12"),
               "duplicate tensor name 'a'");
  ExpectReject(
      FileBytes(R"({"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "1"),
      "duplicate key \"dtype\"");
  ExpectReject(FileBytes(R"({"__metadata__":{"k":"1","k":"2"}})"), "duplicate key");
  ExpectReject(FileBytes(R"({"__metadata__":{},"__metadata__":{}})"), "duplicate key");
  ExpectReject(
      FileBytes(R"({"a":{"dtype":"U8","shape":[1],"shape":[1],"data_offsets":[0,1]}})", "1"),
      "duplicate key \"shape\"");
  ExpectReject(FileBytes(R"({"a":{"dtype":"U8","shape":[],"data_offsets":[0,1],"shape":[]}})", "1"),
               "duplicate key \"shape\"");
}

TEST(SafetensorsParse, RejectsMalformedTensorEntries) {
  auto entry = [](std::string_view body, std::string_view data = "1") {
    return FileBytes(std::string(R"({"a":)") + std::string(body) + "}", data);
  };
  ExpectReject(entry(R"({"dtype":"X8","shape":[1],"data_offsets":[0,1]})"), "unknown dtype");
  ExpectReject(entry(R"({"dtype":"u8","shape":[1],"data_offsets":[0,1]})"), "unknown dtype");
  ExpectReject(entry(R"({"dtype":8,"shape":[1],"data_offsets":[0,1]})"), "dtype is not a string");
  ExpectReject(entry(R"({"dtype":"U8","shape":[-1],"data_offsets":[0,1]})"), "non-negative");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1.0],"data_offsets":[0,1]})"), "non-negative");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1e0],"data_offsets":[0,1]})"), "non-negative");
  ExpectReject(entry(R"({"dtype":"U8","shape":["1"],"data_offsets":[0,1]})"), "non-negative");
  ExpectReject(entry(R"({"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]})"),
               "non-negative");
  ExpectReject(entry(R"({"dtype":"U8","shape":1,"data_offsets":[0,1]})"), "shape is not an array");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1],"data_offsets":[0,-1]})"), "non-negative");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1],"data_offsets":[0]})"), "[begin, end]");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})"), "[begin, end]");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1]})"), "missing data_offsets");
  ExpectReject(entry(R"({"shape":[1],"data_offsets":[0,1]})"), "missing dtype");
  ExpectReject(entry(R"({"dtype":"U8","data_offsets":[0,1]})"), "missing shape");
  ExpectReject(entry(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1})"),
               "unexpected field");
  ExpectReject(entry(R"([1])"), "not a JSON object");
  ExpectReject(FileBytes(R"({"__metadata__":{"k":1}})"), "not a string");
  ExpectReject(FileBytes(R"({"__metadata__":["k"]})"), "must be an object");
}

TEST(SafetensorsParse, NeedsTheWholeHeaderInThePrefix) {
  std::string file = FileBytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "1");
  auto b = Bytes(file);
  auto r = ParseSafetensorsHeader(std::span(b).first(20), b.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::Code::kInvalidArgument);
  auto n = ReadSafetensorsHeaderSize(std::span(b).first(8));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, file.size() - 9);
}

TEST(SafetensorsHeader, FromTensorsValidatesLikeParsing) {
  auto ok = SafetensorsHeader::FromTensors(
      100, {{"b", DType::kF16, {2}, 4, 8, 0}, {"a", DType::kF32, {1}, 0, 4, 0}}, {});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->tensors()[0].name, "a");
  EXPECT_EQ(ok->Find("b")->num_elements, 2u);
  EXPECT_EQ(ok->file_size(), 116u);
  EXPECT_FALSE(SafetensorsHeader::FromTensors(100, {{"a", DType::kF32, {2}, 0, 4, 0}}, {}).ok());
  EXPECT_FALSE(SafetensorsHeader::FromTensors(
                   100, {{"a", DType::kU8, {0}, 0, 0, 0}, {"a", DType::kU8, {0}, 0, 0, 0}}, {})
                   .ok());
}

// ---- SafetensorsFile ----

TEST(SafetensorsFile, MapsTensorsAsViews) {
  TempDir dir;
  std::string data = Floats(6) + "\x01\x02";
  dir.Write("m.safetensors", FileBytes(R"({"__metadata__":{"k":"v"},)"
                                       R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                       R"("b":{"dtype":"U8","shape":[2],"data_offsets":[24,26]}})",
                                       data));
  auto f = SafetensorsFile::Open(dir / "m.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->header().metadata().at("k"), "v");
  auto w = f->Data("w");
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 24u);
  float v[6];
  std::memcpy(v, w->data(), 24);
  EXPECT_EQ(v[5], 5.0f);
  auto b = f->Data("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(std::to_integer<int>((*b)[1]), 2);
  EXPECT_EQ(f->Data("zz").status().code(), core::Code::kNotFound);
  SafetensorsFile moved = std::move(f).value();
  EXPECT_EQ(moved.bytes().size(), moved.header().file_size());
}

TEST(SafetensorsFile, ReportsMissingShortAndCorruptFiles) {
  TempDir dir;
  auto missing = SafetensorsFile::Open(dir / "nope.safetensors");
  EXPECT_EQ(missing.status().code(), core::Code::kNotFound);
  dir.Write("short", "abc");
  EXPECT_EQ(SafetensorsFile::Open(dir / "short").status().code(), core::Code::kDataLoss);
  dir.Write("trunc", FileBytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "12"));
  auto trunc = SafetensorsFile::Open(dir / "trunc");
  ASSERT_FALSE(trunc.ok());
  EXPECT_NE(trunc.status().message().find("trunc"), std::string::npos);
  EXPECT_EQ(SafetensorsFile::Open(dir.path()).status().code(), core::Code::kInvalidArgument);
}

// ---- SafetensorsWriter behaviour ----

TEST(SafetensorsWriter, StreamsPiecesAndKeepsCallerOrderWhenAsked) {
  TempDir dir;
  SafetensorsWriterOptions opts;
  opts.reference_order = false;
  opts.buffer_size = 3;  // force many flushes and direct writes
  auto w = SafetensorsWriter::Create(
      dir / "s.safetensors",
      {{"z", DType::kU8, {5}}, {"empty", DType::kF32, {0, 3}}, {"a", DType::kI16, {2}}},
      {{"m", "1"}}, opts);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->layout().tensors()[0].name, "z");
  ASSERT_TRUE(w->Write("z", Bytes("12")).ok());
  ASSERT_TRUE(w->Write("z", Bytes("345")).ok());
  ASSERT_TRUE(w->Write("a", Bytes("ab")).ok());  // skips the zero-sized tensor
  ASSERT_TRUE(w->Write("a", Bytes("cd")).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto f = SafetensorsFile::Open(dir / "s.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->header().tensors().size(), 3u);
  auto z = f->Data("z");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(z->data()), z->size()), "12345");
  auto a = f->Data("a");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a->data()), a->size()), "abcd");
  EXPECT_EQ(f->header().metadata().at("m"), "1");
  EXPECT_EQ(dir.List().size(), 1u);
}

TEST(SafetensorsWriter, RejectsOrderAndSizeErrorsAndLeavesNothingBehind) {
  TempDir dir;
  {
    auto w = SafetensorsWriter::Create(dir / "x.safetensors",
                                       {{"a", DType::kU8, {2}}, {"b", DType::kU8, {2}}});
    ASSERT_TRUE(w.ok());
    auto s = w->Write("b", Bytes("12"));
    EXPECT_EQ(s.code(), core::Code::kInvalidArgument);
    EXPECT_NE(s.message().find("'a' comes next"), std::string::npos) << s.message();
    EXPECT_FALSE(w->Write("a", Bytes("123")).ok());
    ASSERT_TRUE(w->Write("a", Bytes("12")).ok());
    auto fin = w->Finish();
    EXPECT_FALSE(fin.ok());
    EXPECT_NE(fin.message().find("'b' is incomplete"), std::string::npos) << fin.message();
    EXPECT_EQ(dir.List().size(), 1u);  // only the temporary file
  }
  EXPECT_TRUE(dir.List().empty()) << "temporary file left behind";
}

TEST(SafetensorsWriter, RejectsBadSpecs) {
  TempDir dir;
  auto p = dir / "x.safetensors";
  EXPECT_FALSE(SafetensorsWriter::Create(p, {{"a", DType::kU8, {1}}, {"a", DType::kU8, {1}}}).ok());
  EXPECT_FALSE(SafetensorsWriter::Create(p, {{"__metadata__", DType::kU8, {1}}}).ok());
  EXPECT_FALSE(SafetensorsWriter::Create(p, {{"bad\xff", DType::kU8, {1}}}).ok());
  EXPECT_FALSE(SafetensorsWriter::Create(p, {{"f4", DType::kF4, {3}}}).ok());
  EXPECT_FALSE(SafetensorsWriter::Create(p, {{"big", DType::kF64, {1ull << 62, 4}}}).ok());
  auto no_dir = SafetensorsWriter::Create(dir / "missing" / "x.safetensors", {});
  EXPECT_FALSE(no_dir.ok());
  EXPECT_TRUE(dir.List().empty());
}

TEST(SafetensorsWriter, ReplacesAnExistingFileAtomically) {
  TempDir dir;
  dir.Write("x.safetensors", "old");
  auto w = SafetensorsWriter::Create(dir / "x.safetensors", {{"a", DType::kU8, {1}}});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Write("a", Bytes("1")).ok());
  EXPECT_EQ(dir.Read("x.safetensors"), "old");  // untouched until Finish
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_TRUE(SafetensorsFile::Open(dir / "x.safetensors").ok());
  EXPECT_FALSE(w->Finish().ok());
}

}  // namespace
}  // namespace sdxl::weights
