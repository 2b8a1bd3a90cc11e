// `sdxl-tigris generate --model DIR --prompt TEXT [...] --out PATH`: text-to-image with the SDXL
// engine on a local diffusers folder. With --num-outputs N > 1, `--out x.png` writes x-0.png,
// x-1.png, ... Files are written atomically (temporary file + rename).
// The engine (LibTorch) lives in libsdxl-engine.so, loaded here after the arguments are checked
// (sdxl/engine_loader.h); this file itself is torch-free.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "cli/commands.h"
#include "image/image.h"
#include "sdxl/aspect_ratio.h"
#include "sdxl/engine_loader.h"
#include "sdxl/pipeline.h"

namespace sdxl::cli {
namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  std::string model, prompt, out, format, aspect_ratio, device = "auto", dtype = "auto", variant;
  std::optional<std::string> negative_prompt;
  std::optional<int> steps, width, height;
  std::optional<double> guidance;
  std::optional<uint64_t> seed;
  int num_outputs = 1;
  int quality = 80;
  bool prompt_weighting = false;
};

fs::path OutputPath(const fs::path& out, int index, int count, std::string_view ext) {
  fs::path p = out;
  if (!p.has_extension()) p += "." + std::string(ext);
  if (count == 1) return p;
  return p.parent_path() /
         (p.stem().string() + "-" + std::to_string(index) + p.extension().string());
}

core::Status WriteAtomically(const fs::path& path, const std::vector<uint8_t>& bytes) {
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f)
      return core::PermissionDenied("cannot write " + tmp.string() + "; check the --out folder");
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return core::Unavailable("writing " + tmp.string() + " failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return core::PermissionDenied("cannot move the image to " + path.string());
  }
  return core::Status::Ok();
}

int RunGenerate(const GenerateArgs& a, const CliContext& ctx) {
  // Output format: --format, else the --out extension, else PNG.
  std::string fmt_name = a.format;
  if (fmt_name.empty()) {
    const auto ext = fs::path(a.out).extension().string();
    fmt_name = ext.size() > 1 ? ext.substr(1) : "png";
  }
  auto format = image::ParseFormat(fmt_name);
  if (!format.ok()) {
    return ReportStatus(core::InvalidArgument("unknown image format \"" + fmt_name +
                                              "\"; use --format png, jpg or webp"));
  }
  const fs::path out_dir = fs::path(a.out).parent_path();
  if (!out_dir.empty() && !fs::is_directory(out_dir)) {
    return ReportStatus(core::NotFound("output folder " + out_dir.string() +
                                       " does not exist; create it or change --out"));
  }

  sdxl::PipelineLoadOptions lo;
  lo.device = a.device == "cpu"    ? sdxl::DeviceKind::kCpu
              : a.device == "cuda" ? sdxl::DeviceKind::kCuda
                                   : sdxl::DeviceKind::kAuto;
  lo.dtype = a.dtype == "fp32"   ? sdxl::ComputeDtype::kFloat32
             : a.dtype == "fp16" ? sdxl::ComputeDtype::kFloat16
             : a.dtype == "bf16" ? sdxl::ComputeDtype::kBFloat16
                                 : sdxl::ComputeDtype::kAuto;
  lo.variant = a.variant;
  auto engine = sdxl::EngineLibrary::Open(sdxl::LocateEngineLibrary(ctx.env));
  if (!engine.ok()) return ReportStatus(engine.status());
  if (ctx.verbose) {  // Describe() may initialize CUDA: only when asked
    spdlog::debug("SDXL engine {} ({}) loaded in {:.3f} s", (*engine)->path().string(),
                  (*engine)->engine().Describe(), (*engine)->load_seconds());
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto pipe = (*engine)->engine().LoadPipeline(a.model, lo);
  if (!pipe.ok()) return ReportStatus(pipe.status());
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  sdxl::GenerateRequest req;
  req.prompt = a.prompt;
  req.negative_prompt = a.negative_prompt;
  req.steps = a.steps;
  req.guidance = a.guidance;
  req.num_outputs = a.num_outputs;
  req.prompt_weighting = a.prompt_weighting;
  req.seed = a.seed ? *a.seed : std::random_device{}() & 0xFFFF;  // like the template: 16 bits
  if (!a.aspect_ratio.empty()) {
    const int long_side = std::max((*pipe)->default_width(), (*pipe)->default_height());
    auto size = sdxl::SizeForAspectRatio(a.aspect_ratio, long_side);
    if (!size.ok()) return ReportStatus(size.status());
    // Round down to what the VAE accepts (tiny models use scale factors other than 8).
    const int m = (*pipe)->size_multiple();
    req.width = std::max(m, size->width / m * m);
    req.height = std::max(m, size->height / m * m);
  } else {
    req.width = a.width.value_or(0);
    req.height = a.height.value_or(0);
  }
  const bool quiet = ctx.quiet;
  if (!quiet) {
    std::fprintf(stderr, "loaded %s on %s (%s) in %.1f s\n", a.model.c_str(),
                 (*pipe)->device_name().c_str(), (*pipe)->dtype_name().c_str(), load_s);
    req.on_step = [](int step, int total) {
      std::fprintf(stderr, "\rstep %d/%d", step, total);
      if (step == total) std::fprintf(stderr, "\n");
      return true;
    };
  }
  auto result = (*pipe)->Generate(req);
  if (!result.ok()) return ReportStatus(result.status());

  const int n = static_cast<int>(result->images.size());
  for (int i = 0; i < n; ++i) {
    const auto& g = result->images[i];
    image::Image img{g.width, g.height, g.rgb};
    auto bytes = image::Encode(img, *format, a.quality);
    if (!bytes.ok()) return ReportStatus(bytes.status());
    const fs::path path = OutputPath(a.out, i, n, image::Extension(*format));
    if (auto st = WriteAtomically(path, *bytes); !st.ok()) return ReportStatus(st);
    std::printf("%s\n", path.string().c_str());
  }
  if (!quiet) {
    const auto& t = result->timings;
    std::fprintf(stderr,
                 "seed %llu, %d steps, guidance %.2f, %dx%d: encode %.2f s, denoise %.2f s "
                 "(%.2f s/step), decode %.2f s, total %.2f s\n",
                 static_cast<unsigned long long>(req.seed), result->steps, result->guidance,
                 result->images[0].width, result->images[0].height, t.encode_s, t.denoise_s,
                 t.step_s.empty() ? 0.0 : t.denoise_s / t.step_s.size(), t.decode_s, t.total_s);
  }
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd =
      app.add_subcommand("generate", "Text-to-image with SDXL from a local diffusers folder");
  cmd->add_option("--model", a->model, "Diffusers SDXL pipeline folder")->required();
  cmd->add_option("--prompt", a->prompt, "The prompt")->required();
  cmd->add_option("--negative-prompt", a->negative_prompt, "What to avoid (needs guidance > 1)");
  cmd->add_option("--steps", a->steps,
                  "Denoising steps (default: the model's recipe; 4 for "
                  "trailing-spacing/Lightning schedulers, else 50)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--guidance", a->guidance,
                  "Classifier-free guidance scale; applied only when > 1 (default: recipe, 0 for "
                  "Lightning, else 5)")
      ->check(CLI::Range(0.0, 50.0));
  cmd->add_option("--seed", a->seed, "Random seed (default: random 16-bit)");
  auto* w = cmd->add_option("--width", a->width, "Image width (multiple of 8)")
                ->check(CLI::Range(8, 4096));
  auto* h = cmd->add_option("--height", a->height, "Image height (multiple of 8)")
                ->check(CLI::Range(8, 4096));
  w->needs(h);
  h->needs(w);
  auto* ar = cmd->add_option("--aspect-ratio", a->aspect_ratio,
                             "One of 1:1 16:9 21:9 3:2 2:3 4:5 5:4 9:16 9:21 4:3 3:4");
  ar->excludes(w)->excludes(h);
  cmd->add_option("--num-outputs", a->num_outputs, "Images to generate (batched)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--format", a->format, "png, jpg or webp (default: from --out, else png)");
  cmd->add_option("--quality", a->quality, "JPEG/WebP quality 0..100 (default 80)")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--out", a->out, "Output file; x.png becomes x-0.png, x-1.png, ... when N > 1")
      ->required();
  cmd->add_option("--device", a->device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--dtype", a->dtype, "auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16")
      ->check(CLI::IsMember({"auto", "fp32", "fp16", "bf16"}));
  cmd->add_option("--variant", a->variant, "Weights variant, e.g. fp16 (*.fp16.safetensors)");
  cmd->add_flag("--prompt-weighting", a->prompt_weighting,
                "Compel syntax ((words)1.2, word+, word-) and prompts longer than 77 tokens");
  cmd->callback([run, a, &ctx] { *run = [a, &ctx] { return RunGenerate(*a, ctx); }; });
}

}  // namespace sdxl::cli
