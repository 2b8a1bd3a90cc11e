#pragma once
// HubConfig: validated, immutable settings of the Hugging Face Hub client, built once from the
// environment snapshot (HF_ENDPOINT, HF_TOKEN / HUGGING_FACE_HUB_TOKEN / token file, HF_HOME,
// HF_HUB_CACHE, HF_HUB_OFFLINE, HF_HUB_DOWNLOAD_TIMEOUT), following huggingface_hub's rules so
// that both tools share one cache and one token. A plain value: copy it freely; thread-safe.

#include <chrono>
#include <optional>
#include <string>

#include "core/environment.h"
#include "core/status.h"

namespace sdxl::hub {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::optional<std::string> token;                 // Bearer token, when one is configured
  std::string token_source;                         // "HF_TOKEN", a file path, or empty
  std::string hf_home;                              // $HF_HOME
  std::string cache_dir;                            // $HF_HUB_CACHE (default $HF_HOME/hub)
  bool offline = false;                             // HF_HUB_OFFLINE=1: cache only
  std::string user_agent = "sdxl-tigris/0.1";

  // Retry policy (huggingface_hub's defaults): 5 retries, 1 s doubling to 8 s; a 429 waits for
  // the RateLimit / Retry-After reset time, at most max_rate_limit_wait.
  int max_retries = 5;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{8000};
  std::chrono::seconds max_rate_limit_wait{300};
  std::chrono::seconds connect_timeout{10};
  // A transfer slower than 1 KiB/s for this long counts as stalled and is retried (resumed).
  std::chrono::seconds stall_timeout{30};

  // Reads the settings above from `env`. Fails only for unusable values (e.g. a malformed
  // HF_ENDPOINT); a missing token is fine (public repos).
  static core::Result<HubConfig> FromEnvironment(const core::Environment& env);
};

}  // namespace sdxl::hub
