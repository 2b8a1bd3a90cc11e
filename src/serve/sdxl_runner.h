#pragma once
// MakeSdxlRunFn: the prediction work of the SDXL server, over the engine's torch-free interface:
// validated input -> GenerateRequest (sdxl/request_shaping.h, shared with `generate`) -> engine
// Generate (per-step progress into the prediction's logs, cancel between steps) -> image
// encoding (webp/jpg/png at output_quality) -> OutputStore (data URL, bucket + presigned URL, or
// Cog upload URL) -> output: a list of URLs, one per image (the seed's predict.py returns a list).
// The returned RunFn borrows `pipeline`, `outputs` and `metrics` (they must outlive it) and is
// called by PredictionService's single worker thread, so the pipeline is never used concurrently.

#include "sdxl/engine.h"
#include "sdxl/prediction_input.h"
#include "serve/metrics.h"
#include "serve/output_store.h"
#include "serve/prediction_service.h"

namespace sdxl::serve {

RunFn MakeSdxlRunFn(sdxl::EnginePipeline& pipeline, OutputStore& outputs, ServeMetrics* metrics,
                    sdxl::InputDefaults defaults);

// What the pipeline implies for the inputs' defaults (steps and guidance from its recipe).
sdxl::InputDefaults DefaultsFor(const sdxl::EnginePipeline& pipeline);

}  // namespace sdxl::serve
