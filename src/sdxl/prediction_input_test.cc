#include "sdxl/prediction_input.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sdxl/aspect_ratio.h"
#include "sdxl/prediction_image_format.h"

namespace sdxl::sdxl {
namespace {

using nlohmann::json;

// The seed's predict.py parameters, in order.
const std::vector<std::string> kFieldOrder = {
    "prompt",         "negative_prompt",     "aspect_ratio",        "num_outputs",
    "guidance_scale", "max_sequence_length", "num_inference_steps", "prompt_strength",
    "seed",           "output_format",       "output_quality"};

ParsedInput Parse(const json& j, const InputDefaults& d = {}) { return ParsePredictionInput(j, d); }

// The only error of `j`, which must have exactly one.
FieldError OnlyError(const json& j) {
  const ParsedInput p = Parse(j);
  EXPECT_EQ(p.errors.size(), 1u) << j.dump();
  return p.errors.empty() ? FieldError{} : p.errors.front();
}

TEST(PredictionInput, EmptyObjectTakesDefaults) {
  const ParsedInput p = Parse(json::object());
  ASSERT_TRUE(p.ok());
  const PredictionInput& in = p.input;
  EXPECT_EQ(in.prompt, "");
  EXPECT_EQ(in.negative_prompt, "");
  EXPECT_EQ(in.aspect_ratio, "1:1");
  EXPECT_EQ(in.num_outputs, 1);
  EXPECT_EQ(in.guidance_scale, 0.0);
  EXPECT_EQ(in.max_sequence_length, 256);
  EXPECT_EQ(in.num_inference_steps, 4);
  EXPECT_EQ(in.prompt_strength, 0.6);
  EXPECT_FALSE(in.seed.has_value());
  EXPECT_EQ(in.output_format, OutputFormat::kWebp);
  EXPECT_EQ(in.output_quality, 80);
}

TEST(PredictionInput, DefaultsComeFromTheRecipe) {
  const ParsedInput p = Parse(json::object(), {.num_inference_steps = 30, .guidance_scale = 5.0});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.input.num_inference_steps, 30);
  EXPECT_EQ(p.input.guidance_scale, 5.0);
}

TEST(PredictionInput, SeedTemplateExampleBody) {
  const json body = json::parse(R"({"prompt":"a photo of a tiger in the snow","aspect_ratio":"1:1",
      "guidance_scale":3.5,"num_inference_steps":4,"max_sequence_length":512,
      "output_format":"png","num_outputs":1})");
  const ParsedInput p = Parse(body);
  ASSERT_TRUE(p.ok()) << p.errors.front().field << ": " << p.errors.front().msg;
  EXPECT_EQ(p.input.prompt, "a photo of a tiger in the snow");
  EXPECT_EQ(p.input.aspect_ratio, "1:1");
  EXPECT_EQ(p.input.guidance_scale, 3.5);
  EXPECT_EQ(p.input.num_inference_steps, 4);
  EXPECT_EQ(p.input.max_sequence_length, 512);
  EXPECT_EQ(p.input.output_format, OutputFormat::kPng);
  EXPECT_EQ(p.input.num_outputs, 1);
  EXPECT_EQ(p.input.output_quality, 80);  // untouched default
}

TEST(PredictionInput, EveryFieldSet) {
  const json body = {{"prompt", "p"},
                     {"negative_prompt", "n"},
                     {"aspect_ratio", "9:21"},
                     {"num_outputs", 3},
                     {"guidance_scale", 50},
                     {"max_sequence_length", 2048},
                     {"num_inference_steps", 100},
                     {"prompt_strength", 1},
                     {"seed", -7},
                     {"output_format", "jpg"},
                     {"output_quality", 0}};
  const ParsedInput p = Parse(body);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.input.negative_prompt, "n");
  EXPECT_EQ(p.input.aspect_ratio, "9:21");
  EXPECT_EQ(p.input.num_outputs, 3);
  EXPECT_EQ(p.input.guidance_scale, 50.0);
  EXPECT_EQ(p.input.max_sequence_length, 2048);
  EXPECT_EQ(p.input.num_inference_steps, 100);
  EXPECT_EQ(p.input.prompt_strength, 1.0);
  EXPECT_EQ(p.input.seed, -7);
  EXPECT_EQ(p.input.output_format, OutputFormat::kJpg);
  EXPECT_EQ(p.input.output_quality, 0);
  // Round trip through the echoed form.
  EXPECT_EQ(InputToJson(Parse(InputToJson(p.input)).input), InputToJson(p.input));
}

struct BoundCase {
  std::string field;
  json value;
  std::string type;
  std::string msg;
};

TEST(PredictionInput, EachBoundViolatedGivesOneErrorForThatField) {
  const std::vector<BoundCase> cases = {
      {"num_outputs", 0, "greater_than_equal", "Input should be greater than or equal to 1"},
      {"num_outputs", 4, "less_than_equal", "Input should be less than or equal to 3"},
      {"guidance_scale", -0.5, "greater_than_equal", "Input should be greater than or equal to 0"},
      {"guidance_scale", 50.01, "less_than_equal", "Input should be less than or equal to 50"},
      {"max_sequence_length", 0, "greater_than_equal",
       "Input should be greater than or equal to 1"},
      {"max_sequence_length", 2049, "less_than_equal",
       "Input should be less than or equal to 2048"},
      {"num_inference_steps", 0, "greater_than_equal",
       "Input should be greater than or equal to 1"},
      {"num_inference_steps", 101, "less_than_equal", "Input should be less than or equal to 100"},
      {"prompt_strength", -0.1, "greater_than_equal", "Input should be greater than or equal to 0"},
      {"prompt_strength", 1.5, "less_than_equal", "Input should be less than or equal to 1"},
      {"output_quality", -1, "greater_than_equal", "Input should be greater than or equal to 0"},
      {"output_quality", 101, "less_than_equal", "Input should be less than or equal to 100"},
      // Beyond int64 (torch seeds are 64-bit; ours are int64 like the field).
      {"seed", uint64_t{9223372036854775808u}, "less_than_equal",
       "Input should be less than or equal to 9223372036854775807"},
      {"seed", 1e19, "less_than_equal",
       "Input should be less than or equal to 9223372036854775807"},
      // Below int64: the literal parses as a double that rounds to -2^63 (found by schemathesis).
      {"seed", json::parse("-9223372036854775809"), "greater_than_equal",
       "Input should be greater than or equal to -9223372036854775808"},
      {"num_outputs", -1e300, "greater_than_equal", "Input should be greater than or equal to 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field + "=" + c.value.dump());
    const FieldError e = OnlyError({{"prompt", "x"}, {c.field, c.value}});
    EXPECT_EQ(e.field, c.field);
    EXPECT_EQ(e.type, c.type);
    EXPECT_EQ(e.msg, c.msg);
  }
}

TEST(PredictionInput, BatchLimitIsAParameter) {
  EXPECT_TRUE(Parse({{"num_outputs", 4}}, {.max_num_outputs = 4}).ok());
  const ParsedInput p = Parse({{"num_outputs", 2}}, {.max_num_outputs = 1});
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].msg, "Input should be less than or equal to 1");
}

// Every bound the schema advertises is the one the parser enforces: the bound itself passes,
// one step past it fails on that field.
TEST(PredictionInput, SchemaBoundsMatchTheParser) {
  const InputDefaults d;
  const json props = InputSchema(d)["properties"];
  int checked = 0;
  for (const auto& [name, p] : props.items()) {
    const bool integer = p.value("type", "") == "integer";
    const double step = integer ? 1 : 0.001;
    for (const std::string key : {"minimum", "maximum"}) {
      if (!p.contains(key)) continue;
      SCOPED_TRACE(name + " " + key);
      const json bound = p[key];
      EXPECT_TRUE(Parse({{name, bound}}, d).ok());
      json past_value;
      if (integer && bound == std::numeric_limits<int64_t>::max()) {
        past_value = uint64_t{1} << 63;  // seed: one past int64
      } else if (integer && bound == std::numeric_limits<int64_t>::min()) {
        past_value = -9223372036854777856.0;  // the double below -2^63
      } else {
        const double past = bound.get<double>() + (key == "minimum" ? -step : step);
        past_value = integer ? json(static_cast<int64_t>(past)) : json(past);
      }
      const ParsedInput bad = Parse({{name, past_value}}, d);
      ASSERT_EQ(bad.errors.size(), 1u);
      EXPECT_EQ(bad.errors[0].field, name);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 14);  // 7 bounded fields
}

TEST(PredictionInput, CollectsEveryError) {
  const json body = {
      {"prompt", 3}, {"aspect_ratio", "7:3"},  {"num_outputs", 9},     {"guidance_scale", "high"},
      {"seed", 1.5}, {"output_format", "gif"}, {"output_quality", 100}};
  const ParsedInput p = Parse(body);
  ASSERT_EQ(p.errors.size(), 6u);
  // In the parameters' order, whatever the body's order.
  const std::vector<std::string> fields = {"prompt",         "aspect_ratio", "num_outputs",
                                           "guidance_scale", "seed",         "output_format"};
  for (size_t i = 0; i < fields.size(); ++i) EXPECT_EQ(p.errors[i].field, fields[i]);
  EXPECT_EQ(p.errors[0].type, "string_type");
  EXPECT_EQ(p.errors[1].type, "enum");
  EXPECT_EQ(p.errors[2].type, "less_than_equal");
  EXPECT_EQ(p.errors[3].type, "float_type");
  EXPECT_EQ(p.errors[4].type, "int_from_float");
  EXPECT_EQ(p.errors[5].type, "enum");
}

TEST(PredictionInput, WrongTypes) {
  FieldError e = OnlyError({{"num_outputs", "4"}});  // strings are not coerced (JSON Schema)
  EXPECT_EQ(e.field, "num_outputs");
  EXPECT_EQ(e.type, "int_type");
  EXPECT_EQ(e.msg, "Input should be a valid integer");

  e = OnlyError({{"num_inference_steps", 4.5}});
  EXPECT_EQ(e.field, "num_inference_steps");
  EXPECT_EQ(e.type, "int_from_float");
  EXPECT_EQ(e.msg, "Input should be a valid integer, got a number with a fractional part");

  e = OnlyError({{"guidance_scale", true}});  // booleans are not numbers
  EXPECT_EQ(e.field, "guidance_scale");
  EXPECT_EQ(e.type, "float_type");
  EXPECT_EQ(e.msg, "Input should be a valid number");

  e = OnlyError({{"num_outputs", false}});
  EXPECT_EQ(e.type, "int_type");
  e = OnlyError({{"seed", "42"}});
  EXPECT_EQ(e.type, "int_type");
  e = OnlyError({{"output_quality", json::array({80})}});
  EXPECT_EQ(e.type, "int_type");
  e = OnlyError({{"negative_prompt", json::object()}});
  EXPECT_EQ(e.field, "negative_prompt");
  EXPECT_EQ(e.type, "string_type");
  EXPECT_EQ(e.msg, "Input should be a valid string");
  e = OnlyError({{"guidance_scale", std::numeric_limits<double>::infinity()}});
  EXPECT_EQ(e.type, "finite_number");
}

TEST(PredictionInput, IntegralFloatsAreIntegers) {
  // pydantic v2 and JSON Schema both take 4.0 as the integer 4.
  const ParsedInput p = Parse(json::parse(R"({"num_inference_steps":4.0,"seed":-3.0,
      "num_outputs":2.0,"output_quality":1e2})"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.input.num_inference_steps, 4);
  EXPECT_EQ(p.input.seed, -3);
  EXPECT_EQ(p.input.num_outputs, 2);
  EXPECT_EQ(p.input.output_quality, 100);
  // And integers are numbers.
  EXPECT_EQ(Parse({{"guidance_scale", 7}}).input.guidance_scale, 7.0);
}

TEST(PredictionInput, UnknownKeysAreDropped) {
  const ParsedInput p =
      Parse({{"prompt", "x"}, {"image", "https://example.com/a.png"}, {"lora_scale", "??"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.input.prompt, "x");
  EXPECT_FALSE(InputToJson(p.input).contains("image"));
}

TEST(PredictionInput, NullOnlyForNullableFields) {
  ParsedInput p = Parse({{"seed", nullptr}, {"num_inference_steps", nullptr}});
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p.input.seed.has_value());
  EXPECT_FALSE(p.input.num_inference_steps.has_value());  // null: the recipe's

  FieldError e = OnlyError({{"prompt", nullptr}});
  EXPECT_EQ(e.field, "prompt");
  EXPECT_EQ(e.type, "string_type");
  e = OnlyError({{"num_outputs", nullptr}});
  EXPECT_EQ(e.type, "int_type");
  e = OnlyError({{"guidance_scale", nullptr}});
  EXPECT_EQ(e.type, "float_type");
  e = OnlyError({{"output_format", nullptr}});
  EXPECT_EQ(e.type, "enum");
}

TEST(PredictionInput, SeedRange) {
  EXPECT_EQ(Parse({{"seed", 0}}).input.seed, 0);
  EXPECT_EQ(Parse({{"seed", std::numeric_limits<int64_t>::min()}}).input.seed,
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Parse({{"seed", std::numeric_limits<int64_t>::max()}}).input.seed,
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Parse(json::parse(R"({"seed":9223372036854775807})")).input.seed,
            std::numeric_limits<int64_t>::max());
}

TEST(PredictionInput, BadChoices) {
  FieldError e = OnlyError({{"aspect_ratio", "7:3"}});
  EXPECT_EQ(e.field, "aspect_ratio");
  EXPECT_EQ(e.type, "enum");
  EXPECT_EQ(e.msg.rfind("Input should be '1:1', '16:9', ", 0), 0u) << e.msg;
  EXPECT_NE(e.msg.find("'9:21'"), std::string::npos);
  EXPECT_EQ(OnlyError({{"aspect_ratio", 1}}).type, "enum");

  e = OnlyError({{"output_format", "gif"}});
  EXPECT_EQ(e.field, "output_format");
  EXPECT_EQ(e.type, "enum");
  EXPECT_EQ(e.msg, "Input should be 'webp', 'jpg' or 'png'");
  EXPECT_EQ(OnlyError({{"output_format", "PNG"}}).type, "enum");  // exact, as Cog's enum
  EXPECT_EQ(OnlyError({{"output_format", "jpeg"}}).type, "enum");

  for (const std::string& ratio : AspectRatioNames()) {
    EXPECT_TRUE(Parse({{"aspect_ratio", ratio}}).ok()) << ratio;
  }
}

TEST(PredictionInput, NotAnObject) {
  for (const json& j : {json(nullptr), json("prompt"), json::array({1})}) {
    const ParsedInput p = Parse(j);
    ASSERT_EQ(p.errors.size(), 1u);
    EXPECT_EQ(p.errors[0].field, "");
    EXPECT_EQ(p.errors[0].type, "model_type");
  }
}

TEST(PredictionInput, InputToJsonEchoesEveryField) {
  PredictionInput in;
  json j = InputToJson(in);
  EXPECT_EQ(j.size(), kFieldOrder.size());
  for (const auto& f : kFieldOrder) EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_TRUE(j["seed"].is_null());
  EXPECT_TRUE(j["num_inference_steps"].is_null());
  in.seed = 1234;
  in.output_format = OutputFormat::kJpg;
  j = InputToJson(in);
  EXPECT_EQ(j["seed"], 1234);
  EXPECT_EQ(j["output_format"], "jpg");
}

TEST(PredictionInputSchema, EveryFieldInTheSeedOrder) {
  const json s = InputSchema({});
  EXPECT_EQ(s["title"], "Input");
  EXPECT_EQ(s["type"], "object");
  EXPECT_FALSE(s.contains("required"));  // every field has a default
  const json& props = s["properties"];
  ASSERT_EQ(props.size(), kFieldOrder.size());
  for (size_t i = 0; i < kFieldOrder.size(); ++i) {
    SCOPED_TRACE(kFieldOrder[i]);
    ASSERT_TRUE(props.contains(kFieldOrder[i]));
    const json& p = props[kFieldOrder[i]];
    EXPECT_EQ(p["x-order"], i);
    EXPECT_TRUE(p["description"].is_string());
  }
}

TEST(PredictionInputSchema, PropertyShapes) {
  const json props = InputSchema({.num_inference_steps = 8, .max_num_outputs = 4})["properties"];
  EXPECT_EQ(props["prompt"], json::parse(R"({"title":"Prompt","type":"string","default":"",
      "description":"Prompt for the generated image","x-order":0})"));
  EXPECT_EQ(props["negative_prompt"]["title"], "Negative Prompt");
  EXPECT_EQ(props["num_outputs"]["type"], "integer");
  EXPECT_EQ(props["num_outputs"]["minimum"], 1);
  EXPECT_EQ(props["num_outputs"]["maximum"], 4);
  EXPECT_EQ(props["guidance_scale"]["type"], "number");
  EXPECT_EQ(props["guidance_scale"]["default"], 0.0);
  EXPECT_EQ(props["max_sequence_length"]["title"], "Max Sequence Length");
  EXPECT_EQ(props["num_inference_steps"]["default"], 8);
  EXPECT_EQ(props["num_inference_steps"]["nullable"], true);
  EXPECT_EQ(props["prompt_strength"]["default"], 0.6);
  // seed: Optional[int] with no default.
  EXPECT_EQ(props["seed"]["nullable"], true);
  EXPECT_EQ(props["seed"]["type"], "integer");
  EXPECT_FALSE(props["seed"].contains("default"));
  EXPECT_FALSE(props["prompt"].contains("nullable"));
  // Choices: a $ref to the enum component named after the parameter, no title or type.
  for (const char* name : {"aspect_ratio", "output_format"}) {
    SCOPED_TRACE(name);
    const json& p = props[name];
    EXPECT_EQ(p["allOf"], json::array({{{"$ref", std::string("#/components/schemas/") + name}}}));
    EXPECT_FALSE(p.contains("type"));
    EXPECT_FALSE(p.contains("title"));
  }
  EXPECT_EQ(props["aspect_ratio"]["default"], "1:1");
  EXPECT_EQ(props["output_format"]["default"], "webp");
}

TEST(PredictionInputSchema, DefaultsAreWhatTheParserFillsIn) {
  const InputDefaults d{.num_inference_steps = 6, .guidance_scale = 1.5, .max_num_outputs = 2};
  const json echoed = InputToJson(ParsePredictionInput(json::object(), d).input);
  // Named: a range-for over a member of a temporary reads freed memory (ASan found it).
  const json schema = InputSchema(d);
  for (const auto& [name, p] : schema["properties"].items()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(echoed[name], p.contains("default") ? p["default"] : json()) << echoed[name];
  }
}

TEST(PredictionInputSchema, EnumComponents) {
  const json e = InputEnumSchemas();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e["output_format"], json::parse(R"({"title":"output_format",
      "description":"An enumeration.","enum":["webp","jpg","png"],"type":"string"})"));
  EXPECT_EQ(e["aspect_ratio"]["title"], "aspect_ratio");
  EXPECT_EQ(e["aspect_ratio"]["type"], "string");
  EXPECT_EQ(e["aspect_ratio"]["enum"], json(AspectRatioNames()));
  EXPECT_EQ(e["aspect_ratio"]["enum"][0], "1:1");
  // Every advertised choice parses.
  for (const auto& [name, schema] : e.items()) {
    for (const auto& choice : schema["enum"]) EXPECT_TRUE(Parse({{name, choice}}).ok()) << choice;
  }
}

TEST(PredictionInputSchema, Output) {
  EXPECT_EQ(OutputSchema(), json::parse(R"({"title":"Output","type":"array",
      "items":{"type":"string","format":"uri"}})"));
}

TEST(OutputFormat, NamesAndImageFormats) {
  for (auto f : {OutputFormat::kWebp, OutputFormat::kJpg, OutputFormat::kPng}) {
    auto back = ParseOutputFormat(Extension(f));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, f);
  }
  EXPECT_EQ(Extension(OutputFormat::kJpg), "jpg");
  EXPECT_FALSE(ParseOutputFormat("gif").ok());
  EXPECT_EQ(ToImageFormat(OutputFormat::kWebp), image::Format::kWebp);
  EXPECT_EQ(ToImageFormat(OutputFormat::kJpg), image::Format::kJpeg);
  EXPECT_EQ(ToImageFormat(OutputFormat::kPng), image::Format::kPng);
}

}  // namespace
}  // namespace sdxl::sdxl
