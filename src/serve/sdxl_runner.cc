#include "serve/sdxl_runner.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>

#include "image/image.h"
#include "sdxl/prediction_image_format.h"
#include "sdxl/request_shaping.h"

namespace sdxl::serve {

using nlohmann::json;

sdxl::InputDefaults DefaultsFor(const sdxl::EnginePipeline& pipeline) {
  sdxl::InputDefaults d;
  d.num_inference_steps = pipeline.default_steps();
  d.guidance_scale = pipeline.default_guidance();
  return d;
}

RunFn MakeSdxlRunFn(sdxl::EnginePipeline& pipeline, OutputStore& outputs, ServeMetrics* metrics,
                    sdxl::InputDefaults defaults) {
  const sdxl::PipelineGeometry geometry{pipeline.default_width(), pipeline.default_height(),
                                        pipeline.size_multiple()};
  return [&pipeline, &outputs, metrics, defaults, geometry](const sdxl::PredictionInput& in,
                                                            RunContext& ctx) -> core::Result<json> {
    sdxl::GenerateRequest req = sdxl::ShapeRequest(in, geometry, defaults);
    const int steps = req.steps.value_or(defaults.num_inference_steps);
    ctx.Log(fmt::format("seed {} | {}x{} | {} steps | guidance {:g} | {} image(s) | {} {}",
                        req.seed, req.width, req.height, steps,
                        req.guidance.value_or(defaults.guidance_scale), req.num_outputs,
                        pipeline.device_name(), pipeline.dtype_name()));
    ctx.SetMetric("seed", req.seed);
    req.on_step = [&ctx](int step, int total) {
      ctx.Log(fmt::format("step {}/{}", step, total));
      return !ctx.Cancelled();
    };
    auto result = pipeline.Generate(req);
    if (!result.ok()) return result.status();
    const auto& t = result->timings;
    if (metrics) {
      for (double s : t.step_s) metrics->ObserveStep(s);
    }
    ctx.SetMetric("timings", json{{"encode_s", t.encode_s},
                                  {"denoise_s", t.denoise_s},
                                  {"decode_s", t.decode_s},
                                  {"generate_s", t.total_s}});

    const auto format = sdxl::ToImageFormat(in.output_format);
    const auto t_out = std::chrono::steady_clock::now();
    json urls = json::array();
    std::uint64_t bytes_out = 0;
    for (const auto& g : result->images) {
      if (ctx.Cancelled()) return core::Cancelled("canceled");
      auto bytes = image::Encode(image::Image{g.width, g.height, g.rgb}, format, in.output_quality);
      if (!bytes.ok()) return bytes.status();
      auto url = outputs.Store(RandomOutputName(image::Extension(format)), *bytes,
                               image::MimeType(format));
      if (!url.ok()) return url.status();
      bytes_out += bytes->size();
      urls.push_back(std::move(*url));
    }
    if (metrics) metrics->AddOutputBytes(bytes_out);
    const double out_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_out).count();
    ctx.Log(
        fmt::format("generated in {:.2f} s (encode {:.2f}, denoise {:.2f}, decode {:.2f}); "
                    "{} image(s), {} bytes, stored in {:.2f} s",
                    t.total_s, t.encode_s, t.denoise_s, t.decode_s, urls.size(), bytes_out, out_s));
    return urls;
  };
}

}  // namespace sdxl::serve
