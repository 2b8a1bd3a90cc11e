#include "sdxl/prediction_input.h"

#include <array>
#include <cmath>
#include <limits>
#include <variant>

#include "sdxl/aspect_ratio.h"

namespace sdxl::sdxl {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kOutputFormats = {"webp", "jpg", "png"};

enum class Type { kString, kInteger, kNumber, kChoice };
using Assign = void (*)(PredictionInput&, const json&);

// One input parameter: everything both the parser and the schema need, written once.
struct Spec {
  std::string_view name;
  std::string_view title;
  std::string_view description;
  Type type = Type::kString;
  json minimum;  // null: none (numbers keep the JSON type they are written with)
  json maximum;
  bool nullable = false;
  std::vector<std::string> choices;  // kChoice only
  json default_value;                // null: no default
  // Stores a checked value (int64, double or string; null only for nullable fields).
  Assign assign = nullptr;
};

Spec Field(std::string_view name, std::string_view title, std::string_view description, Type type,
           json default_value, Assign assign) {
  Spec s;
  s.name = name;
  s.title = title;
  s.description = description;
  s.type = type;
  s.default_value = std::move(default_value);
  s.assign = assign;
  return s;
}
Spec Bounded(Spec s, json minimum, json maximum) {
  s.minimum = std::move(minimum);
  s.maximum = std::move(maximum);
  return s;
}
Spec Nullable(Spec s) {
  s.nullable = true;
  return s;
}
Spec Choices(Spec s, std::vector<std::string> choices) {
  s.choices = std::move(choices);
  return s;
}

std::vector<Spec> Specs(const InputDefaults& d) {
  // The seed's predict.py parameters, in its order (x-order is the position in this list).
  return {
      Field("prompt", "Prompt", "Prompt for the generated image", Type::kString, "",
            [](PredictionInput& in, const json& v) { in.prompt = v.get<std::string>(); }),
      Field("negative_prompt", "Negative Prompt",
            "Things the image should not show (used only when guidance_scale > 1)", Type::kString,
            "",
            [](PredictionInput& in, const json& v) { in.negative_prompt = v.get<std::string>(); }),
      Choices(
          Field("aspect_ratio", "Aspect Ratio", "Aspect ratio of the generated image",
                Type::kChoice, "1:1",
                [](PredictionInput& in, const json& v) { in.aspect_ratio = v.get<std::string>(); }),
          AspectRatioNames()),
      Bounded(Field("num_outputs", "Num Outputs", "Number of images to generate", Type::kInteger, 1,
                    [](PredictionInput& in, const json& v) { in.num_outputs = v.get<int>(); }),
              1, d.max_num_outputs),
      Bounded(
          Field("guidance_scale", "Guidance Scale",
                "Classifier-free guidance scale; applied only when > 1 (SDXL-Lightning: 0)",
                Type::kNumber, d.guidance_scale,
                [](PredictionInput& in, const json& v) { in.guidance_scale = v.get<double>(); }),
          0, 50),
      Bounded(
          Field("max_sequence_length", "Max Sequence Length",
                "Maximum prompt length in tokens (accepted for compatibility; unused by SDXL)",
                Type::kInteger, 256,
                [](PredictionInput& in, const json& v) { in.max_sequence_length = v.get<int>(); }),
          1, 2048),
      Nullable(Bounded(
          Field("num_inference_steps", "Num Inference Steps",
                "Number of denoising steps (default: the model's recipe; SDXL-Lightning: 4)",
                Type::kInteger, d.num_inference_steps,
                [](PredictionInput& in, const json& v) {
                  in.num_inference_steps = v.is_null() ? std::nullopt : std::optional(v.get<int>());
                }),
          1, 100)),
      Bounded(
          Field("prompt_strength", "Prompt Strength",
                "Prompt strength for image-to-image (accepted for compatibility; unused)",
                Type::kNumber, 0.6,
                [](PredictionInput& in, const json& v) { in.prompt_strength = v.get<double>(); }),
          0, 1),
      // 64-bit (a torch generator seed), bounds in the schema so that clients know them.
      Bounded(Nullable(Field("seed", "Seed",
                             "Random seed; leave it empty for a random one, set it to repeat an "
                             "image",
                             Type::kInteger, nullptr,
                             [](PredictionInput& in, const json& v) {
                               in.seed =
                                   v.is_null() ? std::nullopt : std::optional(v.get<int64_t>());
                             })),
              std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()),
      Choices(Field("output_format", "Output Format", "Format of the output images", Type::kChoice,
                    "webp",
                    [](PredictionInput& in, const json& v) {
                      in.output_format = *ParseOutputFormat(v.get<std::string>());
                    }),
              {kOutputFormats.begin(), kOutputFormats.end()}),
      Bounded(Field("output_quality", "Output Quality",
                    "Quality of the output images, from 0 to 100 (100 is best); not used for png",
                    Type::kInteger, 80,
                    [](PredictionInput& in, const json& v) { in.output_quality = v.get<int>(); }),
              0, 100),
  };
}

// pydantic v2's enum message: "Input should be 'a', 'b' or 'c'".
std::string ChoicesMessage(const std::vector<std::string>& choices) {
  std::string msg = "Input should be ";
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) msg += i + 1 == choices.size() ? " or " : ", ";
    msg += "'" + choices[i] + "'";
  }
  return msg;
}

FieldError TooSmall(const Spec& s, const json& bound) {
  return {std::string(s.name), "Input should be greater than or equal to " + bound.dump(),
          "greater_than_equal"};
}
FieldError TooLarge(const Spec& s, const json& bound) {
  return {std::string(s.name), "Input should be less than or equal to " + bound.dump(),
          "less_than_equal"};
}

// A whole number within int64 (4.0 counts), range-checked; else the error.
std::variant<int64_t, FieldError> CheckInteger(const Spec& s, const json& v) {
  const json lo = s.minimum.is_null() ? json(std::numeric_limits<int64_t>::min()) : s.minimum;
  const json hi = s.maximum.is_null() ? json(std::numeric_limits<int64_t>::max()) : s.maximum;
  int64_t value = 0;
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    value = v.get<int64_t>();
  } else if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TooLarge(s, hi);
    }
    value = static_cast<int64_t>(v.get<uint64_t>());
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d))
      return FieldError{std::string(s.name), "Input should be a finite number", "finite_number"};
    if (d != std::trunc(d)) {
      return FieldError{std::string(s.name),
                        "Input should be a valid integer, got a number with a fractional part",
                        "int_from_float"};
    }
    // [-2^63, 2^63) is exactly representable at both ends. A float at -2^63 is refused too:
    // an integer literal below int64 (e.g. -9223372036854775809) parses as a double that
    // rounds to exactly -2^63, and must not pass as INT64_MIN.
    if (d <= -9223372036854775808.0) return TooSmall(s, lo);
    if (d >= 9223372036854775808.0) return TooLarge(s, hi);
    value = static_cast<int64_t>(d);
  } else {
    return FieldError{std::string(s.name), "Input should be a valid integer", "int_type"};
  }
  if (value < lo.get<int64_t>()) return TooSmall(s, lo);
  if (value > hi.get<int64_t>()) return TooLarge(s, hi);
  return value;
}

std::variant<double, FieldError> CheckNumber(const Spec& s, const json& v) {
  if (!v.is_number()) {  // booleans are not numbers
    return FieldError{std::string(s.name), "Input should be a valid number", "float_type"};
  }
  const double d = v.get<double>();
  if (!std::isfinite(d)) {
    return FieldError{std::string(s.name), "Input should be a finite number", "finite_number"};
  }
  if (!s.minimum.is_null() && d < s.minimum.get<double>()) return TooSmall(s, s.minimum);
  if (!s.maximum.is_null() && d > s.maximum.get<double>()) return TooLarge(s, s.maximum);
  return d;
}

// The checked value, normalized for Spec::assign, or the error.
std::variant<json, FieldError> Check(const Spec& s, const json& v) {
  switch (s.type) {
    case Type::kString:
      if (v.is_string()) return v;
      return FieldError{std::string(s.name), "Input should be a valid string", "string_type"};
    case Type::kChoice:
      if (v.is_string()) {
        for (const auto& c : s.choices) {
          if (c == v.get_ref<const std::string&>()) return v;
        }
      }
      return FieldError{std::string(s.name), ChoicesMessage(s.choices), "enum"};
    case Type::kInteger: {
      auto r = CheckInteger(s, v);
      if (auto* e = std::get_if<FieldError>(&r)) return *e;
      return json(std::get<int64_t>(r));
    }
    case Type::kNumber: {
      auto r = CheckNumber(s, v);
      if (auto* e = std::get_if<FieldError>(&r)) return *e;
      return json(std::get<double>(r));
    }
  }
  return FieldError{std::string(s.name), "unsupported field type", "value_error"};
}

}  // namespace

std::string_view Extension(OutputFormat format) {
  switch (format) {
    case OutputFormat::kWebp:
      return kOutputFormats[0];
    case OutputFormat::kJpg:
      return kOutputFormats[1];
    case OutputFormat::kPng:
      return kOutputFormats[2];
  }
  return kOutputFormats[0];
}

core::Result<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == kOutputFormats[0]) return OutputFormat::kWebp;
  if (name == kOutputFormats[1]) return OutputFormat::kJpg;
  if (name == kOutputFormats[2]) return OutputFormat::kPng;
  return core::InvalidArgument("unknown output format \"" + std::string(name) +
                               "\"; use webp, jpg or png");
}

ParsedInput ParsePredictionInput(const json& input, const InputDefaults& defaults) {
  ParsedInput out;
  out.input.guidance_scale = defaults.guidance_scale;
  out.input.num_inference_steps = defaults.num_inference_steps;
  if (!input.is_object()) {
    out.errors.push_back(
        {"", "Input should be a valid dictionary or object to extract fields from", "model_type"});
    return out;
  }
  for (const Spec& s : Specs(defaults)) {
    const auto it = input.find(s.name);
    if (it == input.end()) continue;  // the default stays
    if (it->is_null() && s.nullable) {
      s.assign(out.input, nullptr);
      continue;
    }
    auto checked = Check(s, *it);  // null on a non-nullable field: that type's error
    if (auto* e = std::get_if<FieldError>(&checked)) {
      out.errors.push_back(std::move(*e));
    } else {
      s.assign(out.input, std::get<json>(checked));
    }
  }
  return out;
}

json InputToJson(const PredictionInput& in) {
  json j = json::object();
  j["prompt"] = in.prompt;
  j["negative_prompt"] = in.negative_prompt;
  j["aspect_ratio"] = in.aspect_ratio;
  j["num_outputs"] = in.num_outputs;
  j["guidance_scale"] = in.guidance_scale;
  j["max_sequence_length"] = in.max_sequence_length;
  j["num_inference_steps"] = in.num_inference_steps ? json(*in.num_inference_steps) : json();
  j["prompt_strength"] = in.prompt_strength;
  j["seed"] = in.seed ? json(*in.seed) : json();
  j["output_format"] = Extension(in.output_format);
  j["output_quality"] = in.output_quality;
  return j;
}

json InputSchema(const InputDefaults& defaults) {
  json properties = json::object();
  int order = 0;
  for (const Spec& s : Specs(defaults)) {
    json p = json::object();
    if (s.type == Type::kChoice) {
      // Cog's generator: no title or type next to the $ref; default and description stay.
      p["allOf"] = json::array({{{"$ref", "#/components/schemas/" + std::string(s.name)}}});
    } else {
      p["title"] = s.title;
      p["type"] = s.type == Type::kString    ? "string"
                  : s.type == Type::kInteger ? "integer"
                                             : "number";
    }
    if (!s.default_value.is_null()) p["default"] = s.default_value;
    if (!s.minimum.is_null()) p["minimum"] = s.minimum;
    if (!s.maximum.is_null()) p["maximum"] = s.maximum;
    if (s.nullable) p["nullable"] = true;
    p["description"] = s.description;
    p["x-order"] = order++;
    properties[std::string(s.name)] = std::move(p);
  }
  return {{"title", "Input"}, {"type", "object"}, {"properties", std::move(properties)}};
}

json InputEnumSchemas() {
  json out = json::object();
  for (const Spec& s : Specs(InputDefaults{})) {
    if (s.type != Type::kChoice) continue;
    out[std::string(s.name)] = {{"title", s.name},
                                {"description", "An enumeration."},
                                {"enum", s.choices},
                                {"type", "string"}};
  }
  return out;
}

json OutputSchema() {
  return {
      {"title", "Output"}, {"type", "array"}, {"items", {{"type", "string"}, {"format", "uri"}}}};
}

}  // namespace sdxl::sdxl
