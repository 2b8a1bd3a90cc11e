// `sdxl-tigris generate --model DIR --prompt TEXT [...] --out PATH`: text-to-image with the SDXL
// engine on a local diffusers folder. With --num-outputs N > 1, `--out x.png` writes x-0.png,
// x-1.png, ... Files are written atomically (temporary file + rename); missing folders of --out
// are created.
// The engine (LibTorch) lives in libsdxl-engine.so, loaded here after the arguments are checked
// (sdxl/engine_loader.h); this file itself is torch-free.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "image/image.h"
#include "loader/load_model.h"
#include "loader/resolve_model.h"
#include "sdxl/aspect_ratio.h"
#include "sdxl/engine_loader.h"
#include "sdxl/pipeline.h"
#include "sdxl/request_shaping.h"

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

// --out may name folders that do not exist yet (created when the image is written, like `cp`):
// checked up front that they can be created, so a typo does not cost a whole generation.
core::Status CheckOutputFolder(const fs::path& out_dir) {
  std::error_code ec;
  fs::path existing = out_dir;
  while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
  if (existing.empty()) existing = ".";
  if (!fs::is_directory(existing, ec)) {
    return core::InvalidArgument("cannot create the output folder " + out_dir.string() + ": " +
                                 existing.string() + " is not a folder; change --out");
  }
  if (::access(existing.c_str(), W_OK) != 0) {
    return core::PermissionDenied("cannot write into " + existing.string() + "; change --out");
  }
  return core::Status::Ok();
}

// --variant V: which weight components of a pipeline have V weights
// (*.V.safetensors, *.V-0000N-of-0000M.safetensors or *.safetensors.index.V.json), and which have
// weights but none of V (the engine falls back to their plain weights). `files` are the
// pipeline's files relative to its folder ("unet/diffusion_pytorch_model.fp16.safetensors").
struct VariantCoverage {
  std::vector<std::string> with, without;
};
VariantCoverage CheckVariant(const std::vector<std::string>& files, const std::string& variant) {
  std::map<std::string, std::pair<bool, bool>> components;  // name -> (weights, has_variant)
  const std::string dotted = "." + variant;
  for (const auto& rel : files) {
    const auto slash = rel.find('/');
    if (slash == std::string::npos || rel.find('/', slash + 1) != std::string::npos) continue;
    const std::string name = rel.substr(slash + 1);
    auto& [weights, has_variant] = components[rel.substr(0, slash)];
    if (name.ends_with(".safetensors")) {
      weights = true;
      const auto pos = name.find(dotted);
      if (pos != std::string::npos && pos + dotted.size() < name.size() &&
          (name[pos + dotted.size()] == '.' || name[pos + dotted.size()] == '-')) {
        has_variant = true;
      }
    } else if (name.ends_with(".safetensors.index" + dotted + ".json")) {
      has_variant = true;
    }
  }
  VariantCoverage cov;
  for (const auto& [component, seen] : components) {
    if (seen.second) {
      cov.with.push_back(component);
    } else if (seen.first) {
      cov.without.push_back(component);
    }
  }
  return cov;
}

// The files of a local pipeline folder's components, relative to it ("unet/config.json").
std::vector<std::string> ComponentFiles(const fs::path& model_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& comp : fs::directory_iterator(model_dir, ec)) {
    if (!comp.is_directory(ec)) continue;
    for (const auto& f : fs::directory_iterator(comp.path(), ec)) {
      files.push_back(comp.path().filename().string() + "/" + f.path().filename().string());
    }
  }
  return files;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

core::Status WriteAtomically(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::error_code mk;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), mk);
  if (mk) {
    return core::PermissionDenied("cannot create the folder " + path.parent_path().string() + ": " +
                                  mk.message() + "; change --out");
  }
  const core::Status st = core::WriteFileAtomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!st.ok()) return core::Status(st.code(), st.message() + "; check the --out folder");
  return core::Status::Ok();
}

// Classifier-free guidance (the only use of the negative prompt) runs only when guidance > 1.
void WarnIfNegativeUnused(double guidance, std::string_view where) {
  if (guidance > 1.0) return;
  spdlog::warn(
      "--negative-prompt has no effect: guidance is {:g}{}; it is used only with --guidance > 1",
      guidance, where);
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
    return ReportUsage("unknown image format \"" + fmt_name + "\"; use --format png, jpg or webp");
  }
  const fs::path out_dir = fs::path(a.out).parent_path();
  if (!out_dir.empty()) {
    if (auto st = CheckOutputFolder(out_dir); !st.ok()) return ReportStatus(st);
  }

  sdxl::PipelineLoadOptions lo;
  auto device = sdxl::ParseDevice(a.device);
  if (!device.ok()) return ReportStatus(device.status());
  auto dtype = sdxl::ParseDtype(a.dtype);
  if (!dtype.ok()) return ReportStatus(dtype.status());
  lo.device = *device;
  lo.dtype = *dtype;
  lo.variant = a.variant;
  if (a.negative_prompt && a.guidance) WarnIfNegativeUnused(*a.guidance, "");
  // --model: a local folder, s3://BUCKET/PATH (pulled into the cache), or empty for
  // MODEL_BUCKET_NAME/MODEL_PATH (loader/resolve_model.h).
  loader::PullOptions pull;
  // --variant naming weights a local folder does not have is an error before anything loads (the
  // engine would quietly load the plain weights); for a pulled model it is checked after.
  bool variant_checked = false;
  if (!a.variant.empty()) {
    auto plan = loader::PlanModel(a.model, ctx.env, pull);
    if (plan.ok() && !plan->pulls) {
      const auto cov = CheckVariant(ComponentFiles(plan->dir), a.variant);
      if (cov.with.empty()) {
        return ReportStatus(core::NotFound(
            "--variant " + a.variant + ": " + plan->dir.string() + " has no *." + a.variant +
            ".safetensors weights; leave out --variant to load its plain weights"));
      }
      if (!cov.without.empty()) {
        spdlog::warn("--variant {}: {} {} no {} weights; their plain weights are used", a.variant,
                     JoinNames(cov.without), cov.without.size() == 1 ? "has" : "have", a.variant);
      }
      variant_checked = true;
    }
  }
  // The engine library (LibTorch, CUDA) opens on its own thread while the model is resolved.
  auto engine_future = sdxl::EngineLibrary::OpenAsync(sdxl::LocateEngineLibrary(ctx.env));
  core::ProgressBar pull_bar("pull", 0, !ctx.quiet && core::ProgressBar::StderrIsTerminal());
  pull.transfer.on_total = [&pull_bar](std::uint64_t t) { pull_bar.SetTotal(t); };
  pull.transfer.on_progress = [&pull_bar](std::uint64_t n) { pull_bar.Add(n); };
  // The pull runs on its own thread; the engine loads each component as soon as its files are
  // in the cache (loader/load_model.h).
  std::unique_ptr<sdxl::EngineLibrary> engine;  // outlives the pipeline
  const auto get_engine = [&]() -> core::Result<sdxl::Engine*> {
    auto opened = engine_future.get();
    if (!opened.ok()) return opened.status();
    engine = std::move(*opened);
    if (ctx.verbose) {  // Describe() may initialize CUDA: only when asked
      spdlog::debug("SDXL engine {} ({}) loaded in {:.3f} s", engine->path().string(),
                    engine->engine().Describe(), engine->load_seconds());
    }
    return &engine->engine();
  };
  auto loaded = loader::ResolveAndLoad(a.model, ctx.env, pull, get_engine, lo);
  pull_bar.Finish();
  if (!loaded.ok()) return ReportStatus(loaded.status());
  std::unique_ptr<sdxl::EnginePipeline> pipe = std::move(loaded->pipeline);
  const fs::path model_dir = loaded->pulled.dir;
  const double load_s = loaded->load_s;
  if (!a.variant.empty() && !variant_checked) {
    // A pulled model's own file list: weights a full disk kept out of the cache folder count.
    const auto cov = CheckVariant(
        loaded->pulled.files.empty() ? ComponentFiles(model_dir) : loaded->pulled.files, a.variant);
    if (cov.with.empty()) {
      spdlog::warn(
          "--variant {} had no effect: {} has no *.{}.safetensors weights (prepare-model stores "
          "weights under their plain names); the plain weights were loaded",
          a.variant, model_dir.string(), a.variant);
    } else if (!cov.without.empty()) {
      spdlog::warn("--variant {}: {} {} no {} weights; their plain weights were used", a.variant,
                   JoinNames(cov.without), cov.without.size() == 1 ? "has" : "have", a.variant);
    }
  }

  sdxl::GenerateRequest req;
  req.prompt = a.prompt;
  req.negative_prompt = a.negative_prompt;
  req.steps = a.steps;
  req.guidance = a.guidance;
  req.num_outputs = a.num_outputs;
  req.prompt_weighting = a.prompt_weighting;
  req.seed = a.seed ? *a.seed : sdxl::DrawSeed();  // like the template: 16 bits
  if (a.negative_prompt && !a.guidance) {
    WarnIfNegativeUnused(pipe->default_guidance(), " (the model's default)");
  }
  if (!a.aspect_ratio.empty()) {
    const sdxl::PipelineGeometry geometry{pipe->default_width(), pipe->default_height(),
                                          pipe->size_multiple()};
    auto size = sdxl::SizeForAspectRatio(a.aspect_ratio, geometry);
    if (!size.ok()) return ReportStatus(size.status());
    req.width = size->width;
    req.height = size->height;
  } else {
    req.width = a.width.value_or(0);
    req.height = a.height.value_or(0);
  }
  const bool quiet = ctx.quiet;
  if (!quiet) {
    std::fprintf(stderr, "loaded %s on %s (%s) in %.1f s\n", model_dir.string().c_str(),
                 pipe->device_name().c_str(), pipe->dtype_name().c_str(), load_s);
    // One line rewritten in place on a terminal; one line per step in logs and pipes.
    req.on_step = [tty = core::ProgressBar::StderrIsTerminal()](int step, int total) {
      if (tty) {
        std::fprintf(stderr, "\rstep %d/%d", step, total);
        if (step == total) std::fprintf(stderr, "\n");
      } else {
        std::fprintf(stderr, "step %d/%d\n", step, total);
      }
      return true;
    };
  }
  auto result = pipe->Generate(req);
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

// A CLI11 check that accepts what `parse` accepts, with its error message.
template <typename T>
CLI::Validator ParsedBy(core::Result<T> (*parse)(std::string_view), std::string description) {
  return CLI::Validator(
      [parse](std::string& value) -> std::string {
        auto r = parse(value);
        return r.ok() ? std::string() : r.status().message();
      },
      std::move(description));
}

}  // namespace

void AddGenerateCommand(CLI::App& app, CliContext& ctx, Action* run) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd =
      app.add_subcommand("generate", "Text-to-image with SDXL from a local diffusers folder");
  cmd->add_option("--model", a->model,
                  "Diffusers SDXL pipeline folder or s3://BUCKET/PATH (pulled into the cache; "
                  "default: s3://$MODEL_BUCKET_NAME/$MODEL_PATH)");
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
  // A bad choice is a usage error (exit 2) found before the model loads, not after.
  ar->check(
      [](const std::string& v) -> std::string {
        const auto names = sdxl::AspectRatioNames();
        if (std::find(names.begin(), names.end(), v) != names.end()) return "";
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        return "unknown aspect ratio \"" + v + "\"; use one of " + list;
      },
      "RATIO");
  cmd->add_option("--num-outputs", a->num_outputs, "Images to generate (batched)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--format", a->format, "png, jpg or webp (default: from --out, else png)");
  cmd->add_option("--quality", a->quality, "JPEG/WebP quality 0..100 (default 80)")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--out", a->out, "Output file; x.png becomes x-0.png, x-1.png, ... when N > 1")
      ->required();
  cmd->add_option("--device", a->device, "auto, cpu or cuda")
      ->check(ParsedBy(sdxl::ParseDevice, "auto|cpu|cuda"));
  cmd->add_option("--dtype", a->dtype, "auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16")
      ->check(ParsedBy(sdxl::ParseDtype, "auto|fp32|fp16|bf16"));
  cmd->add_option("--variant", a->variant, "Weights variant, e.g. fp16 (*.fp16.safetensors)");
  cmd->add_flag("--prompt-weighting", a->prompt_weighting,
                "Compel syntax ((words)1.2, word+, word-) and prompts longer than 77 tokens");
  cmd->callback([run, a, &ctx] { *run = [a, &ctx] { return RunGenerate(*a, ctx); }; });
}

}  // namespace sdxl::cli
