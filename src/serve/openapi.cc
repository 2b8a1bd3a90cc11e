#include "serve/openapi.h"

#include <initializer_list>

namespace sdxl::serve {
namespace {

using nlohmann::json;

json Ref(const std::string& name) { return json{{"$ref", "#/components/schemas/" + name}}; }

json JsonResponse(json schema, const std::string& description = "Successful Response") {
  return json{{"description", description},
              {"content", {{"application/json", {{"schema", std::move(schema)}}}}}};
}

// An error body: an object with these string properties.
json ErrorSchema(std::initializer_list<const char*> keys) {
  json properties = json::object();
  for (const char* k : keys) properties[k] = {{"type", "string"}};
  return {{"type", "object"}, {"properties", std::move(properties)}};
}

// Cog's 200 and 422, plus every other answer the server gives (additions: documented so that
// clients and schema-driven tests know them).
json PredictionResponses() {
  return json{
      {"200", JsonResponse(Ref("PredictionResponse"))},
      {"202", JsonResponse(Ref("PredictionResponse"),
                           "Accepted: `Prefer: respond-async`, or the id is already in flight")},
      {"400", JsonResponse(ErrorSchema({"detail"}), "The body is not valid JSON")},
      {"409",
       JsonResponse(ErrorSchema({"detail", "error", "status"}), "Busy: a prediction is running")},
      {"415", JsonResponse(ErrorSchema({"detail"}), "The Content-Type is not JSON")},
      {"422", JsonResponse(Ref("HTTPValidationError"), "Validation Error")},
      {"503", JsonResponse(ErrorSchema({"error", "status"}),
                           "Not ready: setup is running or failed, or the server is stopping")}};
}

json PreferHeader() {
  return json{{"in", "header"},
              {"name", "prefer"},
              {"required", false},
              {"schema", {{"title", "Prefer"}, {"type", "string"}}}};
}

json IdParam(const std::string& title) {
  return json{{"in", "path"},
              {"name", "prediction_id"},
              {"required", true},
              {"schema", {{"title", title}, {"type", "string"}}}};
}

json RequestBody(bool required) {
  json body = {{"content", {{"application/json", {{"schema", Ref("PredictionRequest")}}}}}};
  if (required) body["required"] = true;
  return body;
}

}  // namespace

json OpenApiDocument(const sdxl::InputDefaults& defaults, const std::string& version) {
  json paths = json::object();
  paths["/"] = {{"get",
                 {{"summary", "Root"},
                  {"operationId", "root__get"},
                  {"responses", {{"200", JsonResponse({{"title", "Response Root  Get"}})}}}}}};
  paths["/health-check"] = {
      {"get",
       {{"summary", "Healthcheck"},
        {"operationId", "healthcheck_health_check_get"},
        {"responses",
         {{"200", JsonResponse({{"title", "Response Healthcheck Health Check Get"}})}}}}}};
  paths["/predictions"] = {{"post",
                            {{"summary", "Predict"},
                             {"description", "Run a single prediction on the model"},
                             {"operationId", "predict_predictions_post"},
                             {"parameters", json::array({PreferHeader()})},
                             {"requestBody", RequestBody(false)},
                             {"responses", PredictionResponses()}}}};
  paths["/predictions/{prediction_id}"] = {
      {"put",
       {{"summary", "Predict Idempotent"},
        {"description", "Run a single prediction on the model (idempotent creation)."},
        {"operationId", "predict_idempotent_predictions__prediction_id__put"},
        {"parameters", json::array({IdParam("Prediction ID"), PreferHeader()})},
        // Not required: no body means {"input": {}}, as coglet takes it (py required one).
        {"requestBody", RequestBody(false)},
        {"responses", PredictionResponses()}}}};
  paths["/predictions/{prediction_id}/cancel"] = {
      {"post",
       {{"summary", "Cancel"},
        {"description", "Cancel a running prediction"},
        {"operationId", "cancel_predictions__prediction_id__cancel_post"},
        {"parameters", json::array({IdParam("Prediction Id")})},
        {"responses",
         {{"200",
           JsonResponse({{"title", "Response Cancel Predictions  Prediction Id  Cancel Post"}})},
          {"404", JsonResponse({{"type", "object"}}, "No prediction with this id is in flight")},
          {"422", JsonResponse(Ref("HTTPValidationError"), "Validation Error")}}}}}};
  paths["/shutdown"] = {
      {"post",
       {{"summary", "Start Shutdown"},
        {"operationId", "start_shutdown_shutdown_post"},
        {"responses",
         {{"200", JsonResponse({{"title", "Response Start Shutdown Shutdown Post"}})}}}}}};

  json schemas = json::object();
  schemas["Input"] = sdxl::InputSchema(defaults);
  schemas["Output"] = sdxl::OutputSchema();
  const json enums = sdxl::InputEnumSchemas();
  for (auto it = enums.begin(); it != enums.end(); ++it) schemas[it.key()] = it.value();
  schemas["PredictionRequest"] = {
      {"title", "PredictionRequest"},
      {"type", "object"},
      {"properties",
       {{"id", {{"title", "Id"}, {"type", "string"}, {"nullable", true}}},
        {"input", {{"allOf", json::array({Ref("Input")})}, {"nullable", true}}},
        // Any value: echoed when it is a date-time, else ignored (coglet ignores the field).
        {"created_at",
         {{"title", "Created At"},
          {"description",
           "An RFC 3339 date-time, echoed in the response; other values are ignored"}}},
        {"context",
         {{"title", "Context"},
          {"type", "object"},
          {"additionalProperties", {{"type", "string"}}}}},
        {"webhook",
         {{"title", "Webhook"},
          {"type", "string"},
          {"nullable", true},
          {"format", "uri"},
          {"pattern", "^https?://"},
          {"minLength", 1},
          {"maxLength", 65536}}},
        {"webhook_events_filter",
         {{"type", "array"},
          {"items", Ref("WebhookEvent")},
          {"default", json::array({"start", "output", "logs", "completed"})}}}}}};
  auto nullable = [](json s) {
    s["nullable"] = true;
    return s;
  };
  schemas["PredictionResponse"] = {
      {"title", "PredictionResponse"},
      {"type", "object"},
      {"properties",
       {{"input", Ref("Input")},
        // null until the prediction succeeds (failed, canceled, in flight).
        {"output", {{"allOf", json::array({Ref("Output")})}, {"nullable", true}}},
        {"id", nullable({{"title", "Id"}, {"type", "string"}})},
        {"version", nullable({{"title", "Version"}, {"type", "string"}})},
        {"created_at",
         nullable({{"title", "Created At"}, {"type", "string"}, {"format", "date-time"}})},
        {"started_at",
         nullable({{"title", "Started At"}, {"type", "string"}, {"format", "date-time"}})},
        {"completed_at",
         nullable({{"title", "Completed At"}, {"type", "string"}, {"format", "date-time"}})},
        {"logs", {{"title", "Logs"}, {"type", "string"}, {"default", ""}}},
        {"error", nullable({{"title", "Error"}, {"type", "string"}})},
        {"status", Ref("Status")},
        {"metrics", nullable({{"title", "Metrics"}, {"type", "object"}})}}}};
  schemas["Status"] = {{"title", "Status"},
                       {"description", "An enumeration."},
                       {"enum", {"starting", "processing", "succeeded", "canceled", "failed"}},
                       {"type", "string"}};
  schemas["WebhookEvent"] = {{"title", "WebhookEvent"},
                             {"description", "An enumeration."},
                             {"enum", {"start", "output", "logs", "completed"}},
                             {"type", "string"}};
  schemas["HTTPValidationError"] = {
      {"title", "HTTPValidationError"},
      {"type", "object"},
      {"properties",
       {{"detail", {{"title", "Detail"}, {"type", "array"}, {"items", Ref("ValidationError")}}}}}};
  schemas["ValidationError"] = {
      {"title", "ValidationError"},
      {"required", {"loc", "msg", "type"}},
      {"type", "object"},
      {"properties",
       {{"loc",
         {{"title", "Location"},
          {"type", "array"},
          {"items", {{"anyOf", json::array({{{"type", "string"}}, {{"type", "integer"}}})}}}}},
        {"msg", {{"title", "Message"}, {"type", "string"}}},
        {"type", {{"title", "Error Type"}, {"type", "string"}}}}}};

  return json{{"openapi", "3.0.2"},
              {"info", {{"title", "Cog"}, {"version", version}}},
              {"paths", std::move(paths)},
              {"components", {{"schemas", std::move(schemas)}}}};
}

}  // namespace sdxl::serve
