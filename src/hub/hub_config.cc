#include "hub/hub_config.h"

#include "core/file_util.h"

namespace sdxl::hub {
namespace {

bool Truthy(const std::optional<std::string>& v) {
  if (!v) return false;
  std::string s = *v;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

core::Result<HubConfig> HubConfig::FromEnvironment(const core::Environment& env) {
  HubConfig c;
  if (auto ep = env.Get("HF_ENDPOINT")) {
    std::string e = Trim(*ep);
    while (!e.empty() && e.back() == '/') e.pop_back();
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
      return core::InvalidArgument("HF_ENDPOINT='" + *ep +
                                   "' is not an http(s) URL: set it like https://huggingface.co");
    }
    c.endpoint = e;
  }
  if (auto home = env.Get("HF_HOME")) {
    c.hf_home = *home;
  } else if (auto xdg = env.Get("XDG_CACHE_HOME")) {
    c.hf_home = *xdg + "/huggingface";
  } else {
    c.hf_home = env.Home() + "/.cache/huggingface";
  }
  c.cache_dir =
      env.GetFirst({"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}).value_or(c.hf_home + "/hub");
  c.offline = Truthy(env.Get("HF_HUB_OFFLINE")) || Truthy(env.Get("TRANSFORMERS_OFFLINE"));

  if (auto t = env.GetFirst({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})) {
    c.token = Trim(*t);
    c.token_source = env.Get("HF_TOKEN") ? "HF_TOKEN" : "HUGGING_FACE_HUB_TOKEN";
  } else if (!Truthy(env.Get("HF_HUB_DISABLE_IMPLICIT_TOKEN"))) {
    std::string path = env.GetOr("HF_TOKEN_PATH", c.hf_home + "/token");
    // No readable token file: anonymous access (as huggingface_hub).
    if (auto text = core::ReadFile(path); text.ok()) {
      std::string t = Trim(*text);
      if (!t.empty()) {
        c.token = t;
        c.token_source = path;
      }
    }
  }
  if (c.token && c.token->find_first_of("\r\n") != std::string::npos) {
    return core::InvalidArgument("the Hugging Face token from " + c.token_source +
                                 " spans several lines: store only the token (hf_...)");
  }
  if (auto t = env.Get("HF_HUB_DOWNLOAD_TIMEOUT")) {
    try {
      long s = std::stol(*t);
      if (s > 0) c.stall_timeout = std::chrono::seconds(std::max(s, 10L));
    } catch (...) {
      return core::InvalidArgument("HF_HUB_DOWNLOAD_TIMEOUT='" + *t +
                                   "' is not a number of seconds");
    }
  }
  return c;
}

}  // namespace sdxl::hub
