// weights_tool: a small command-line front end over the weights library, used by the pytest
// suites in tests/weights (comparisons against torch and the Python safetensors package) and
// handy for inspecting files by hand. Every failure prints one line to stderr and exits 1.
//
//   weights_tool inspect FILE                 header + per-tensor SHA-256 as JSON
//   weights_tool write SPEC.json OUT          write a safetensors file from raw tensor files
//   weights_tool convert-raw FROM TO IN OUT   convert a raw little-endian element array
//   weights_tool convert IN OUT DTYPE         convert a safetensors file (floats only)
//   weights_tool manifest DIR [CHUNK_SIZE]    print the manifest of a directory
//   weights_tool verify MANIFEST DIR          check every file of DIR against MANIFEST
//
// SPEC.json: {"metadata": {"k": "v"}, "reference_order": true,
//             "tensors": [{"name": "w", "dtype": "F32", "shape": [2, 3], "data": "w.bin"}]}
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/hash.h"
#include "weights/convert.h"
#include "weights/manifest.h"
#include "weights/safetensors.h"

namespace {

using sdxl::core::Result;
using sdxl::core::Status;
using namespace sdxl::weights;
using nlohmann::json;

int Fail(const Status& s) {
  std::fprintf(stderr, "weights_tool: %s\n", s.ToString().c_str());
  return 1;
}

int Usage() {
  std::fprintf(stderr,
               "usage: weights_tool inspect FILE | write SPEC.json OUT | "
               "convert-raw FROM TO IN OUT | convert IN OUT DTYPE | manifest DIR [CHUNK_SIZE] | "
               "verify MANIFEST DIR\n");
  return 2;
}

Result<DType> DTypeArg(const std::string& name) {
  auto d = ParseDType(name);
  if (!d) return sdxl::core::InvalidArgument("unknown dtype " + name + " (use e.g. F32, BF16)");
  return *d;
}

int Inspect(const std::string& path) {
  auto f = SafetensorsFile::Open(path);
  if (!f.ok()) return Fail(f.status());
  const SafetensorsHeader& h = f->header();
  json out;
  out["header_size"] = h.header_size();
  out["data_offset"] = h.data_offset();
  out["metadata"] = h.metadata();
  json tensors = json::array();
  for (const TensorInfo& t : h.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"dtype", DTypeName(t.dtype)},
                       {"shape", t.shape},
                       {"data_offsets", {t.data_begin, t.data_end}},
                       {"sha256", sdxl::core::Sha256Hex(f->Data(t))}});
  }
  out["tensors"] = std::move(tensors);
  std::cout << out.dump() << "\n";
  return 0;
}

int Write(const std::string& spec_path, const std::string& out_path) {
  auto text = sdxl::core::ReadFile(spec_path);
  if (!text.ok()) return Fail(text.status());
  json spec = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object() || !spec.contains("tensors")) {
    return Fail(sdxl::core::InvalidArgument(spec_path + " is not a valid write spec"));
  }
  std::vector<TensorSpec> specs;
  std::map<std::string, std::string> data_files;
  for (const json& t : spec["tensors"]) {
    auto dt = DTypeArg(t.at("dtype").get<std::string>());
    if (!dt.ok()) return Fail(dt.status());
    specs.push_back(
        {t.at("name").get<std::string>(), *dt, t.at("shape").get<std::vector<std::uint64_t>>()});
    data_files[t.at("name").get<std::string>()] = t.at("data").get<std::string>();
  }
  std::map<std::string, std::string> metadata;
  if (spec.contains("metadata"))
    metadata = spec["metadata"].get<std::map<std::string, std::string>>();
  SafetensorsWriterOptions opts;
  opts.reference_order = spec.value("reference_order", true);
  auto w = SafetensorsWriter::Create(out_path, std::move(specs), std::move(metadata), opts);
  if (!w.ok()) return Fail(w.status());
  std::vector<char> buf(1 << 20);
  for (const TensorInfo& t : w->layout().tensors()) {
    std::ifstream in(data_files[t.name], std::ios::binary);
    if (!in) return Fail(sdxl::core::NotFound("cannot open " + data_files[t.name]));
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      Status s = w->Write(t.name, std::as_bytes(std::span(buf.data(), n)));
      if (!s.ok()) return Fail(s);
    }
  }
  Status s = w->Finish();
  return s.ok() ? 0 : Fail(s);
}

int ConvertRaw(const std::string& from, const std::string& to, const std::string& in_path,
               const std::string& out_path) {
  auto f = DTypeArg(from);
  auto t = DTypeArg(to);
  if (!f.ok()) return Fail(f.status());
  if (!t.ok()) return Fail(t.status());
  auto in = sdxl::core::ReadFile(in_path, std::numeric_limits<std::uint64_t>::max());
  if (!in.ok()) return Fail(in.status());
  const size_t in_bits = static_cast<size_t>(DTypeBits(*f)),
               out_bits = static_cast<size_t>(DTypeBits(*t));
  std::string out(in->size() / (in_bits / 8) * (out_bits / 8), '\0');
  Status s = ConvertElements(*f, *t, std::as_bytes(std::span(*in)),
                             std::as_writable_bytes(std::span(out)));
  if (!s.ok()) return Fail(s);
  std::ofstream o(out_path, std::ios::binary);
  o.write(out.data(), static_cast<std::streamsize>(out.size()));
  return o ? 0 : Fail(sdxl::core::Internal("cannot write " + out_path));
}

int Convert(const std::string& in, const std::string& out, const std::string& dtype) {
  auto d = DTypeArg(dtype);
  if (!d.ok()) return Fail(d.status());
  ConvertOptions opts;
  opts.target = *d;
  auto stats = ConvertSafetensorsFile(in, out, opts);
  if (!stats.ok()) return Fail(stats.status());
  std::cout << json{{"tensors", stats->tensors},
                    {"converted_tensors", stats->converted_tensors},
                    {"input_bytes", stats->input_bytes},
                    {"output_bytes", stats->output_bytes}}
                   .dump()
            << "\n";
  return 0;
}

int ManifestCmd(const std::string& dir, std::uint64_t chunk) {
  auto files = BuildFileEntries(dir, chunk);
  if (!files.ok()) return Fail(files.status());
  Manifest m;
  m.source_repo = dir;
  m.files = std::move(files).value();
  std::cout << ManifestToJson(m);
  return 0;
}

int Verify(const std::string& manifest_path, const std::string& dir) {
  auto m = ReadManifestFile(manifest_path);
  if (!m.ok()) return Fail(m.status());
  for (const FileEntry& e : m->files) {
    Status s = VerifyFile(e, std::filesystem::path(dir) / e.path);
    if (!s.ok()) return Fail(s);
  }
  std::printf("ok: %zu files, %llu bytes\n", m->files.size(),
              static_cast<unsigned long long>(m->total_bytes()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 2 && a[0] == "inspect") return Inspect(a[1]);
    if (a.size() == 3 && a[0] == "write") return Write(a[1], a[2]);
    if (a.size() == 5 && a[0] == "convert-raw") return ConvertRaw(a[1], a[2], a[3], a[4]);
    if (a.size() == 4 && a[0] == "convert") return Convert(a[1], a[2], a[3]);
    if ((a.size() == 2 || a.size() == 3) && a[0] == "manifest") {
      return ManifestCmd(a[1], a.size() == 3 ? std::stoull(a[2]) : kDefaultManifestChunkSize);
    }
    if (a.size() == 3 && a[0] == "verify") return Verify(a[1], a[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weights_tool: %s\n", e.what());
    return 1;
  }
  return Usage();
}
