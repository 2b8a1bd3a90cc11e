#include "sdxl/pipeline.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/cuda.h>

#include <chrono>
#include <future>
#include <mutex>

#include "sdxl/cpu_caching_allocator.h"
#include "sdxl/prompt_weighting.h"
#include "sdxl/scheduler.h"
#include "sdxl/torch_device.h"
#include "sdxl/unet.h"
#include "sdxl/vae.h"

namespace sdxl::sdxl {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string DtypeName(torch::Dtype d) {
  switch (d) {
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    default:
      return "float32";
  }
}

// A generator on `device` seeded like torch.Generator(device).manual_seed(seed).
at::Generator MakeGenerator(const torch::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  auto gen = at::globalContext().defaultGenerator(device).clone();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  return gen;
}

// One Euler / Euler-ancestral update as diffusers' step() computes it (sample upcast to float32,
// the sigma products in the model output's dtype, the result cast back to it).
torch::Tensor EulerStep(const EulerSchedule& s, int i, const torch::Tensor& model_output,
                        const torch::Tensor& sample_in, at::Generator& gen) {
  const float sigma = s.sigmas()[i];
  auto sample = sample_in.to(torch::kFloat32);
  torch::Tensor x0;
  switch (s.prediction_type()) {
    case PredictionType::kEpsilon:
      x0 = sample - model_output * static_cast<double>(sigma);
      break;
    case PredictionType::kVPrediction: {
      const float s2p1 = sigma * sigma + 1.0f;
      const float c_out = -sigma / std::sqrt(s2p1);
      x0 = model_output * static_cast<double>(c_out) + sample / static_cast<double>(s2p1);
      break;
    }
    case PredictionType::kSample:
      x0 = model_output;
      break;
  }
  auto derivative = (sample - x0) / static_cast<double>(sigma);
  torch::Tensor prev;
  if (!s.ancestral()) {
    const float dt = s.sigmas()[i + 1] - sigma;
    prev = sample + derivative * static_cast<double>(dt);
  } else {
    const auto a = s.ancestral_sigmas(i);
    const float dt = a.sigma_down - sigma;
    prev = sample + derivative * static_cast<double>(dt);
    auto noise = at::randn(model_output.sizes(), gen, model_output.options().device(gen.device()))
                     .to(model_output.device());
    prev = prev + noise * static_cast<double>(a.sigma_up);
  }
  return prev.to(model_output.scalar_type());
}

}  // namespace

struct SdxlPipeline::Impl {
  std::filesystem::path dir;
  PipelineConfig pipeline_config;
  SchedulerConfig scheduler_config;
  UNet2DCondition unet{nullptr};
  Vae vae;
  std::unique_ptr<SdxlTextEncoder> text;
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;

  core::Result<GenerateResult> Generate(const GenerateRequest& r);
};

SdxlPipeline::SdxlPipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SdxlPipeline::SdxlPipeline(SdxlPipeline&&) noexcept = default;
SdxlPipeline& SdxlPipeline::operator=(SdxlPipeline&&) noexcept = default;
SdxlPipeline::~SdxlPipeline() = default;

core::Result<SdxlPipeline> SdxlPipeline::Load(const std::filesystem::path& dir,
                                              const PipelineLoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  weights::FolderWeightSource folder;
  weights::WeightSource& source = options.weights ? *options.weights : folder;
  SDXL_RETURN_IF_ERROR(source.WaitForComponent(""));
  if (!std::filesystem::is_directory(dir)) {
    return core::NotFound("model folder " + dir.string() +
                          " does not exist; pass a local diffusers SDXL pipeline folder");
  }
  SDXL_ASSIGN_OR_RETURN(impl->pipeline_config, LoadPipelineConfig(dir));
  SDXL_RETURN_IF_ERROR(source.WaitForComponent("scheduler"));
  SDXL_ASSIGN_OR_RETURN(impl->scheduler_config, LoadSchedulerConfig(dir / "scheduler"));
  if (!impl->pipeline_config.scheduler_class.empty()) {
    // diffusers instantiates model_index.json's scheduler class with scheduler_config.json.
    const auto& cls = impl->pipeline_config.scheduler_class;
    if (cls != "EulerDiscreteScheduler" && cls != "EulerAncestralDiscreteScheduler") {
      return core::InvalidArgument("model_index.json names scheduler " + cls +
                                   "; supported: EulerDiscreteScheduler, "
                                   "EulerAncestralDiscreteScheduler");
    }
    impl->scheduler_config.class_name = cls;
  }
  try {
    SDXL_ASSIGN_OR_RETURN(impl->device, ResolveDevice(options.device));
    impl->dtype = ResolveDtype(options.dtype, impl->device);
    if (impl->device.is_cpu() && impl->dtype == torch::kFloat16) {
      return core::InvalidArgument(
          "float16 on the CPU is very slow and unsupported here; use --dtype fp32 or bf16 on CPU");
    }
    // The three parts load at the same time, each once its small files are in, so that with a
    // streaming source every file's bytes go into the parameters as they download. The first
    // failure cancels the source: the others stop waiting for bytes and fail with it.
    std::mutex first_mu;
    core::Status first_failure;  // the failure that cancelled the others
    const auto guarded = [&](const std::function<core::Status()>& load) {
      core::Status st;
      try {
        st = load();
      } catch (const std::exception& e) {
        st = core::Internal(std::string("LibTorch failed while loading: ") + e.what());
      }
      if (!st.ok()) {
        {
          std::lock_guard<std::mutex> lock(first_mu);
          if (first_failure.ok()) first_failure = st;
        }
        source.Cancel(st);
      }
      return st;
    };
    auto text = std::async(std::launch::async, [&] {
      return guarded([&]() -> core::Status {
        for (const char* c : {"tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2"}) {
          SDXL_RETURN_IF_ERROR(source.WaitForComponent(c));
        }
        TextEncoderLoadOptions to;
        to.dtype = impl->dtype;
        to.device = impl->device;
        to.variant = options.variant;
        to.source = &source;
        SDXL_ASSIGN_OR_RETURN(auto loaded, SdxlTextEncoder::Load(dir, to));
        impl->text = std::make_unique<SdxlTextEncoder>(std::move(loaded));
        return core::Status::Ok();
      });
    });
    ModelLoadOptions mo{impl->dtype, impl->device, options.variant};
    mo.source = &source;
    auto vae = std::async(std::launch::async, [&] {
      return guarded([&]() -> core::Status {
        SDXL_RETURN_IF_ERROR(source.WaitForComponent("vae"));
        SDXL_ASSIGN_OR_RETURN(impl->vae, LoadVae(dir / "vae", mo));
        return core::Status::Ok();
      });
    });
    const core::Status unet = guarded([&]() -> core::Status {
      SDXL_RETURN_IF_ERROR(source.WaitForComponent("unet"));
      SDXL_ASSIGN_OR_RETURN(impl->unet, LoadUNet(dir / "unet", mo));
      return core::Status::Ok();
    });
    text.wait();
    vae.wait();
    (void)unet;
    // The first failure is the cause; the others only saw the source cancelled.
    SDXL_RETURN_IF_ERROR(first_failure);
  } catch (const std::exception& e) {
    return core::Internal("loading " + dir.string() + " failed: " + e.what());
  }
  return SdxlPipeline(std::move(impl));
}

int SdxlPipeline::default_steps() const {
  if (impl_->pipeline_config.default_steps) return *impl_->pipeline_config.default_steps;
  return impl_->scheduler_config.timestep_spacing == TimestepSpacing::kTrailing ? 4 : 50;
}

double SdxlPipeline::default_guidance() const {
  if (impl_->pipeline_config.default_guidance) return *impl_->pipeline_config.default_guidance;
  return impl_->scheduler_config.timestep_spacing == TimestepSpacing::kTrailing ? 0.0 : 5.0;
}

int SdxlPipeline::size_multiple() const { return impl_->vae.decoder->config().scale_factor(); }
int SdxlPipeline::default_width() const {
  return impl_->unet->config().sample_size * size_multiple();
}
int SdxlPipeline::default_height() const { return default_width(); }
std::string SdxlPipeline::device_name() const { return impl_->device.str(); }
std::string SdxlPipeline::dtype_name() const { return DtypeName(impl_->dtype); }

core::Result<GenerateResult> SdxlPipeline::Generate(const GenerateRequest& request) {
  GenerateRequest r = request;
  if (!r.steps) r.steps = default_steps();
  if (!r.guidance) r.guidance = default_guidance();
  if (r.width == 0) r.width = default_width();
  if (r.height == 0) r.height = default_height();
  const int m = size_multiple();
  if (r.width <= 0 || r.height <= 0 || r.width % m != 0 || r.height % m != 0) {
    return core::InvalidArgument("width and height must be positive multiples of " +
                                 std::to_string(m) + " (got " + std::to_string(r.width) + "x" +
                                 std::to_string(r.height) + ")");
  }
  if (r.num_outputs < 1) return core::InvalidArgument("--num-outputs must be at least 1");
  if (*r.guidance < 0) return core::InvalidArgument("guidance must be >= 0");
  try {
    return impl_->Generate(r);
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    return core::Internal("generation failed: " + what);
  }
}

core::Result<GenerateResult> SdxlPipeline::Impl::Generate(const GenerateRequest& r) {
  c10::InferenceMode inference;
  // On CPU, reuse activation memory across denoising steps instead of faulting in fresh pages
  // (cpu_caching_allocator.h); the cache is emptied when this generation ends.
  struct CacheScope {
    bool on;
    ~CacheScope() {
      if (on) CachingCpuAllocator::Instance().ReleaseCached();
    }
  } cache_scope{device.is_cpu()};
  if (cache_scope.on) CachingCpuAllocator::Install();
  const auto t_start = Clock::now();
  GenerateResult result;
  const int steps = *r.steps;
  const double guidance = *r.guidance;
  result.steps = steps;
  result.guidance = guidance;
  SDXL_ASSIGN_OR_RETURN(auto schedule, EulerSchedule::Create(scheduler_config, steps));
  const auto& uc = unet->config();
  const bool cfg = guidance > 1.0 && !uc.time_cond_proj_dim;
  const int64_t n = r.num_outputs;

  // 1. Text conditioning.
  auto t0 = Clock::now();
  EncodePromptOptions eo;
  eo.mode = r.prompt_weighting ? PromptMode::kCompel : PromptMode::kDiffusers;
  eo.with_negative = cfg;
  eo.force_zeros_for_empty_prompt = pipeline_config.force_zeros_for_empty_prompt;
  eo.num_images_per_prompt = static_cast<int>(n);
  SDXL_ASSIGN_OR_RETURN(auto emb, text->Encode(r.prompt, r.negative_prompt, eo));
  auto ctx = emb.prompt_embeds.to(device, dtype);            // (n, S, D)
  auto pooled = emb.pooled_prompt_embeds.to(device, dtype);  // (n, P)
  // time ids: original (h, w) + crop (0, 0) + target (h, w)
  auto time_ids = torch::tensor({static_cast<double>(r.height), static_cast<double>(r.width), 0.0,
                                 0.0, static_cast<double>(r.height), static_cast<double>(r.width)},
                                torch::TensorOptions().dtype(dtype))
                      .unsqueeze(0)
                      .to(device)
                      .repeat({n, 1});  // (n, 6)
  if (cfg) {
    ctx = torch::cat({emb.negative_prompt_embeds.to(device, dtype), ctx});
    pooled = torch::cat({emb.negative_pooled_prompt_embeds.to(device, dtype), pooled});
    time_ids = torch::cat({time_ids, time_ids});
  }
  result.timings.encode_s = Since(t0);

  // 2. Initial latents, drawn like diffusers' randn_tensor with a generator on the device.
  t0 = Clock::now();
  const int f = vae.decoder->config().scale_factor();
  auto gen = MakeGenerator(device, r.seed);
  auto latents = at::randn({n, uc.in_channels, r.height / f, r.width / f}, gen,
                           torch::TensorOptions().dtype(dtype).device(device));
  latents = latents * static_cast<double>(schedule.init_noise_sigma());

  // 3. Denoising loop. The cross-attention keys/values of the (constant) text embeddings are
  // computed once here instead of on every step.
  const auto timesteps = torch::tensor(schedule.timesteps(), torch::kFloat32).to(device);
  const UNetContext unet_context = unet->ProjectContext(ctx);
  for (int i = 0; i < schedule.num_steps(); ++i) {
    const auto ts = Clock::now();
    auto model_in = cfg ? torch::cat({latents, latents}) : latents;
    model_in = model_in / static_cast<double>(schedule.input_divisor(i));
    auto noise =
        unet->forward(UNetInputs{model_in, timesteps[i], ctx, pooled, time_ids, &unet_context});
    if (cfg) {
      auto parts = noise.chunk(2);
      noise = parts[0] + guidance * (parts[1] - parts[0]);
    }
    latents = EulerStep(schedule, i, noise, latents, gen);
    if (device.is_cuda()) torch::cuda::synchronize();
    result.timings.step_s.push_back(Since(ts));
    if (r.on_step && !r.on_step(i + 1, schedule.num_steps())) {
      return core::Cancelled("generation cancelled after step " + std::to_string(i + 1));
    }
  }
  result.timings.denoise_s = Since(t0);
  // The VAE's activation sizes differ from the UNet's: return the UNet's cached blocks first.
  if (cache_scope.on) CachingCpuAllocator::Instance().ReleaseCached();

  // 4. Decode and post-process: (x * 0.5 + 0.5).clamp(0, 1) * 255, rounded half to even.
  t0 = Clock::now();
  auto images = vae.Decode(latents);  // (n, 3, H, W)
  images = (images * 0.5 + 0.5).clamp(0, 1).to(torch::kFloat32);
  images =
      (images.permute({0, 2, 3, 1}) * 255.0).round().to(torch::kUInt8).to(torch::kCPU).contiguous();
  result.timings.decode_s = Since(t0);
  for (int64_t b = 0; b < n; ++b) {
    auto img = images[b];
    GeneratedImage out;
    out.height = static_cast<int>(img.size(0));
    out.width = static_cast<int>(img.size(1));
    const auto* p = img.data_ptr<uint8_t>();
    out.rgb.assign(p, p + img.numel());
    result.images.push_back(std::move(out));
  }
  result.timings.total_s = Since(t_start);
  return result;
}

}  // namespace sdxl::sdxl
