#include "core/environment.h"

#include <unistd.h>

extern char** environ;  // NOLINT

namespace sdxl::core {

Environment Environment::FromProcess() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return Environment(std::move(vars));
}

std::optional<std::string> Environment::Get(std::string_view name) const {
  auto it = vars_.find(name);
  if (it == vars_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Environment::GetFirst(
    std::initializer_list<std::string_view> names) const {
  for (auto n : names) {
    if (auto v = Get(n)) return v;
  }
  return std::nullopt;
}

std::string Environment::GetOr(std::string_view name, std::string_view fallback) const {
  auto v = Get(name);
  return v ? *v : std::string(fallback);
}

std::string Environment::Home() const { return GetOr("HOME", "/root"); }

}  // namespace sdxl::core
