#pragma once
// PredictionInput: the inputs of the seed template's Cog predictor (predict.py), validated, and
// the OpenAPI schema pieces Cog generates for them (../shared/reference/cog_api.md sections 7, 10,
// 13.1).
//
// ParsePredictionInput checks the JSON `input` object of a prediction request the way the current
// Cog server (coglet) does, with JSON Schema's types: strings must be strings, numbers numbers
// (booleans are not numbers), integers whole numbers (4.0 is accepted as 4, as both JSON Schema
// and pydantic v2 do; 4.5 and "4" are not). Unknown keys are dropped; missing keys take their
// defaults; an explicit null is accepted only for the nullable `seed` and `num_inference_steps`.
// Every problem is reported, in field order, with pydantic v2's message and type wording
// ("Input should be greater than or equal to 1", "greater_than_equal"), ready for a 422 body
// {"detail":[{"loc":["body","input",field],"msg":...,"type":...}]}.
//
// All functions are pure and thread-safe; results are values owned by the caller. Torch-free.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace sdxl::sdxl {

enum class OutputFormat { kWebp, kJpg, kPng };

// "webp" | "jpg" | "png": the choice's name, also the file extension to write. For the image
// encoder's format see sdxl/prediction_image_format.h (kept out of sdxl_base).
std::string_view Extension(OutputFormat format);
// The inverse of Extension (exact names only); InvalidArgument listing the choices otherwise.
[[nodiscard]] core::Result<OutputFormat> ParseOutputFormat(std::string_view name);

struct PredictionInput {
  std::string prompt;
  std::string negative_prompt;
  std::string aspect_ratio = "1:1";        // one of AspectRatioNames() (sdxl/aspect_ratio.h)
  int num_outputs = 1;                     // 1..InputDefaults::max_num_outputs
  double guidance_scale = 0.0;             // 0..50
  int max_sequence_length = 256;           // 1..2048; accepted for compatibility, unused by SDXL
  std::optional<int> num_inference_steps;  // 1..100; nullopt (explicit null): the recipe's
  double prompt_strength = 0.6;            // 0..1; accepted for compatibility (img2img), unused
  std::optional<int64_t> seed;             // nullopt: a random 16-bit seed at shaping time
  OutputFormat output_format = OutputFormat::kWebp;
  int output_quality = 80;  // 0..100; ignored for PNG
};

// What the loaded model contributes to the contract: its recipe (SDXL-Lightning: 4 steps,
// guidance 0) and the batch limit.
struct InputDefaults {
  int num_inference_steps = 4;
  double guidance_scale = 0.0;
  int max_num_outputs = 3;
};

// One item of a Cog 422 body: loc = ["body","input",field], or ["body","input"] when field is ""
// (the input is not an object).
struct FieldError {
  std::string field;
  std::string msg;   // e.g. "Input should be less than or equal to 3"
  std::string type;  // e.g. "less_than_equal", "int_type", "enum"
};

struct ParsedInput {
  PredictionInput input;           // meaningful only when ok()
  std::vector<FieldError> errors;  // in field order; several per request, at most one per field
  bool ok() const { return errors.empty(); }
};

// `input` is the request's "input" value (callers map a missing or null input to {}); anything
// but an object gives one error with field "" (loc ["body","input"]). A missing
// num_inference_steps takes defaults.num_inference_steps, a missing guidance_scale
// defaults.guidance_scale.
ParsedInput ParsePredictionInput(const nlohmann::json& input, const InputDefaults& defaults);

// The input as the prediction echoes it: every field, defaults filled in, nullopt as null.
nlohmann::json InputToJson(const PredictionInput& input);

// components.schemas.Input as Cog's generator writes it (section 13.1): properties with x-order,
// title, type, default, minimum/maximum, description; nullable seed and num_inference_steps (no
// `required`: every field has a default); aspect_ratio and output_format as
// {"allOf":[{"$ref":"#/components/schemas/<name>"}]} next to their default and description.
nlohmann::json InputSchema(const InputDefaults& defaults);
// The enum components those $refs name: {"aspect_ratio":{...},"output_format":{...}}.
nlohmann::json InputEnumSchemas();
// components.schemas.Output: a list of URLs (presigned or data URLs).
nlohmann::json OutputSchema();

}  // namespace sdxl::sdxl
