// sdxl_text_driver: runs the SDXL text side on a JSON list of requests and writes every output as
// safetensors, so tests/parity can compare with transformers and compel.
//
//   sdxl_text_driver encoders MODEL_DIR PROMPTS_JSON OUT
//       PROMPTS_JSON: ["text", ...]. For prompt i writes i.ids1, i.ids2 (77 tokens each) and the
//       raw encoder outputs i.te1.{penultimate,last,pooled}, i.te2.{penultimate,last,pooled,
//       text_embeds}.
//   sdxl_text_driver encode MODEL_DIR REQUESTS_JSON OUT
//       REQUESTS_JSON: [{"prompt": str, "negative": str|null, "mode": "compel"|"diffusers",
//       "with_negative": bool, "truncate": bool, "num_images": int}, ...]. Writes
//       i.prompt_embeds, i.pooled and, with negatives, i.negative_prompt_embeds, i.negative_pooled.
//   sdxl_text_driver parse - PROMPTS_JSON OUT_JSON
//       Writes [[[text, weight], ...] | {"error": message}, ...]: compel-syntax parse results.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "sdxl/prompt_parser.h"
#include "sdxl/prompt_weighting.h"
#include "sdxl/tensor_io.h"

namespace {

using namespace sdxl::sdxl;
namespace core = sdxl::core;

core::Result<nlohmann::json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return core::NotFound("cannot open " + path);
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    return core::InvalidArgument(path + " is not valid JSON: " + e.what());
  }
}

torch::Tensor Ids(const std::vector<int32_t>& ids) {
  return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong).unsqueeze(0);
}

core::Status Run(int argc, char** argv) {
  if (argc != 5) {
    return core::InvalidArgument("usage: sdxl_text_driver encoders|encode MODEL_DIR JSON OUT");
  }
  const std::string cmd = argv[1];
  SDXL_ASSIGN_OR_RETURN(nlohmann::json requests, ReadJson(argv[3]));
  if (cmd == "parse") {
    nlohmann::json results = nlohmann::json::array();
    for (const auto& r : requests) {
      auto frags = ParsePrompt(r.get<std::string>());
      if (!frags.ok()) {
        results.push_back({{"error", frags.status().message()}});
        continue;
      }
      nlohmann::json list = nlohmann::json::array();
      for (const auto& f : *frags) list.push_back({f.text, f.weight});
      results.push_back(list);
    }
    std::ofstream(argv[4]) << results.dump();
    return core::Status::Ok();
  }
  SDXL_ASSIGN_OR_RETURN(SdxlTextEncoder te, SdxlTextEncoder::Load(argv[2]));
  std::map<std::string, torch::Tensor> out;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string p = std::to_string(i) + ".";
    if (cmd == "encoders") {
      const std::string text = requests[i].get<std::string>();
      torch::Tensor ids1 = Ids(te.tokenizer1().EncodeForModel(text));
      torch::Tensor ids2 = Ids(te.tokenizer2().EncodeForModel(text));
      ClipTextOutput o1 = te.encoder1()->Forward(ids1);
      ClipTextOutput o2 = te.encoder2()->Forward(ids2);
      out[p + "ids1"] = ids1;
      out[p + "ids2"] = ids2;
      out[p + "te1.penultimate"] = o1.penultimate;
      out[p + "te1.last"] = o1.last_hidden_state;
      out[p + "te1.pooled"] = o1.pooled;
      out[p + "te2.penultimate"] = o2.penultimate;
      out[p + "te2.last"] = o2.last_hidden_state;
      out[p + "te2.pooled"] = o2.pooled;
      out[p + "te2.text_embeds"] = o2.text_embeds;
    } else if (cmd == "encode") {
      const auto& r = requests[i];
      EncodePromptOptions o;
      o.mode =
          r.value("mode", "compel") == "diffusers" ? PromptMode::kDiffusers : PromptMode::kCompel;
      o.with_negative = r.value("with_negative", false);
      o.truncate_long_prompts = r.value("truncate", false);
      o.num_images_per_prompt = r.value("num_images", 1);
      std::optional<std::string> negative;
      if (r.contains("negative") && r["negative"].is_string()) negative = r["negative"];
      SDXL_ASSIGN_OR_RETURN(PromptEmbeddings e, te.Encode(r.at("prompt"), negative, o));
      out[p + "prompt_embeds"] = e.prompt_embeds;
      out[p + "pooled"] = e.pooled_prompt_embeds;
      if (e.negative_prompt_embeds.defined()) {
        out[p + "negative_prompt_embeds"] = e.negative_prompt_embeds;
        out[p + "negative_pooled"] = e.negative_pooled_prompt_embeds;
      }
    } else {
      return core::InvalidArgument("unknown command '" + cmd + "' (encoders, encode)");
    }
  }
  for (auto& [k, v] : out) v = v.contiguous().cpu();
  return WriteTensors(argv[4], out);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto st = Run(argc, argv);
    if (!st.ok()) {
      std::fprintf(stderr, "sdxl_text_driver: %s\n", st.message().c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdxl_text_driver: %s\n", e.what());
    return 1;
  }
  return 0;
}
