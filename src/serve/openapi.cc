#include "serve/openapi.h"

namespace sdxl::serve {
namespace {

using nlohmann::json;

json Ref(const std::string& name) { return json{{"$ref", "#/components/schemas/" + name}}; }

json JsonResponse(json schema, const std::string& description = "Successful Response") {
  return json{{"description", description},
              {"content", {{"application/json", {{"schema", std::move(schema)}}}}}};
}

json PredictionResponses() {
  return json{{"200", JsonResponse(Ref("PredictionResponse"))},
              {"422", JsonResponse(Ref("HTTPValidationError"), "Validation Error")}};
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
        {"requestBody", RequestBody(true)},
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
       {{"id", {{"title", "Id"}, {"type", "string"}}},
        {"input", Ref("Input")},
        {"created_at", {{"title", "Created At"}, {"type", "string"}, {"format", "date-time"}}},
        {"context",
         {{"title", "Context"},
          {"type", "object"},
          {"additionalProperties", {{"type", "string"}}}}},
        {"webhook",
         {{"title", "Webhook"},
          {"type", "string"},
          {"format", "uri"},
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
        {"output", Ref("Output")},
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
