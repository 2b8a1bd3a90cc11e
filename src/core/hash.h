#pragma once
// Hashing: streaming SHA-256 (OpenSSL EVP) and XXH3-64 (libxxhash), with lowercase hex output.
//
// Sha256 and Xxh3_64 are incremental hashers: Update() any number of times, then Finish() once.
// They own their native state (RAII), are movable, not copyable, and not thread-safe (one hasher
// per thread; distinct hashers may run concurrently). The one-shot helpers are pure functions.
// Hex strings are lowercase; XXH3-64 hex is the 16-digit big-endian rendering of the 64-bit value
// (the same text as `xxh64sum`-style tools print for XXH3: `xxhsum -H3`).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sdxl::core {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Streaming SHA-256. Update() after Finish() is a bug (asserts).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const std::byte> data);
  void Update(std::string_view data);
  Sha256Digest Finish();
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Streaming XXH3 with 64-bit output, seed 0.
class Xxh3_64 {
 public:
  Xxh3_64();
  ~Xxh3_64();
  Xxh3_64(Xxh3_64&&) noexcept;
  Xxh3_64& operator=(Xxh3_64&&) noexcept;
  Xxh3_64(const Xxh3_64&) = delete;
  Xxh3_64& operator=(const Xxh3_64&) = delete;

  void Update(std::span<const std::byte> data);
  void Update(std::string_view data);
  std::uint64_t Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One-shot helpers.
Sha256Digest Sha256Of(std::span<const std::byte> data);
std::string Sha256Hex(std::span<const std::byte> data);
std::string Sha256Hex(std::string_view data);
std::uint64_t Xxh3_64Of(std::span<const std::byte> data);
std::uint64_t Xxh3_64Of(std::string_view data);

// Lowercase hex of arbitrary bytes ("" for empty input).
std::string ToHex(std::span<const std::uint8_t> bytes);
// 16 lowercase hex digits, most significant first.
std::string Hex64(std::uint64_t value);
// Parses exactly 16 hex digits (either case); nullopt otherwise.
std::optional<std::uint64_t> ParseHex64(std::string_view text);
// True when `text` is exactly 64 lowercase hex digits (a SHA-256 hex digest).
bool IsSha256Hex(std::string_view text);

// Streams a file through SHA-256 (1 MiB reads). NotFound / DataLoss on I/O errors.
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace sdxl::core
