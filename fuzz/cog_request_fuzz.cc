// libFuzzer target: Cog prediction request bodies, as the HTTP layer hands them to
// PredictionService::Create (serve/http_server.cc: parse, 400 for bad JSON, 422 for a non-object)
// with validation by sdxl::ParsePredictionInput. The service is ready and its runner returns at
// once, so every request ends 200 or 422.
// Invariants: a 422 lists at least one error with loc ["body", ...], msg and type; a 200 succeeded
// and echoes exactly the input the runner received; that echo validates again to itself (the
// validated input is a fixed point); every reply serializes (no invalid UTF-8, no NaN surprises).
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "sdxl/prediction_input.h"
#include "serve/prediction_service.h"

namespace {

using nlohmann::json;
namespace serve = sdxl::serve;
namespace input = sdxl::sdxl;

void Check(bool ok) {
  if (!ok) std::abort();
}

json g_ran;  // the runner's input (Create is synchronous: no concurrent access)

serve::PredictionService& Service() {
  static serve::PredictionService* service = [] {
    spdlog::set_level(spdlog::level::off);
    auto* s = new serve::PredictionService("fuzz");  // never destroyed: its worker outlives runs
    s->SetupSucceeded(
        [](const input::PredictionInput& in, serve::RunContext&) -> sdxl::core::Result<json> {
          g_ran = input::InputToJson(in);
          return json::array({"data:image/png;base64,AAAA"});
        },
        input::InputDefaults{});
    return s;
  }();
  return *service;
}

void CheckSerializes(const json& body) {
  try {
    const std::string text = body.dump();
    Check(json::parse(text) == body);
  } catch (const json::exception&) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  json body = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return 0;  // 400 / 422 in http_server.cc

  // Odd sizes: PUT /predictions/fuzz-id (a body id must then match).
  const std::string url_id = size % 2 == 1 ? "fuzz-id" : "";
  g_ran = nullptr;
  const serve::ServiceReply reply = Service().Create(body, url_id, /*respond_async=*/false);
  CheckSerializes(reply.body);
  if (reply.http_status == 422) {
    const json& detail = reply.body.at("detail");
    Check(detail.is_array() && !detail.empty());
    for (const json& item : detail) {
      Check(item.at("loc").is_array() && item["loc"].at(0) == "body");
      Check(item.at("msg").is_string() && !item["msg"].get<std::string>().empty());
      Check(item.at("type").is_string() && !item["type"].get<std::string>().empty());
    }
    Check(g_ran.is_null());
    return 0;
  }
  Check(reply.http_status == 200);
  Check(reply.body.at("status") == "succeeded");
  const json& echoed = reply.body.at("input");
  Check(echoed == g_ran);
  const input::ParsedInput again = input::ParsePredictionInput(echoed, input::InputDefaults{});
  Check(again.ok() && input::InputToJson(again.input) == echoed);
  return 0;
}
