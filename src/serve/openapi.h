#pragma once
// OpenApiDocument: GET /openapi.json, in the shape Cog generates for a predictor with the seed's
// inputs (../shared/reference/cog_api.md section 13): openapi 3.0.2, the Cog paths (root,
// health-check, predictions POST, the idempotent PUT, cancel, shutdown) and components Input,
// Output, the enum components, PredictionRequest, PredictionResponse, Status, WebhookEvent,
// HTTPValidationError and ValidationError. It is the superset of the Go generator's and the
// legacy FastAPI server's documents, so clients of either find what they read. It also documents
// what the server really does where Cog's documents do not (every status it answers, the
// nullable request and response fields, the optional PUT body), so that schema-driven clients and
// tests (tests/serve/test_schemathesis.py) can rely on it.
// Pure and thread-safe.

#include <string>

#include <nlohmann/json.hpp>

#include "sdxl/prediction_input.h"

namespace sdxl::serve {

nlohmann::json OpenApiDocument(const sdxl::InputDefaults& defaults, const std::string& version);

}  // namespace sdxl::serve
