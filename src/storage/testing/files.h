#pragma once
// Test helpers for byte-exact file checks: deterministic random content, whole-file read and
// write (creating parent directories).

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace sdxl::storage::testing {

// `n` pseudo-random bytes, the same for the same seed.
inline std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

}  // namespace sdxl::storage::testing
