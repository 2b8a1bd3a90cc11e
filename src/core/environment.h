#pragma once
// Environment: an immutable snapshot of the process environment plus the user's home directory.
//
// This is the only place in sdxl-tigris that reads environment variables. `main` captures it once
// (Environment::FromProcess) and passes it by const reference to whatever builds configuration
// (AWS credentials/config, Hugging Face settings, server settings). Tests build one from a map.
// Thread-safe: immutable after construction.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sdxl::core {

class Environment {
 public:
  Environment() = default;
  explicit Environment(const std::map<std::string, std::string>& vars)
      : vars_(vars.begin(), vars.end()) {}

  // Snapshot of `environ` at the time of the call.
  static Environment FromProcess();

  // The variable's value when set and non-empty.
  std::optional<std::string> Get(std::string_view name) const;
  // First set, non-empty variable among `names`.
  std::optional<std::string> GetFirst(std::initializer_list<std::string_view> names) const;
  std::string GetOr(std::string_view name, std::string_view fallback) const;

  // $HOME (or "/root" when unset).
  std::string Home() const;

  const std::map<std::string, std::string, std::less<>>& vars() const { return vars_; }

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

}  // namespace sdxl::core
