#include "core/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <xxhash.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/fd_io.h"

namespace sdxl::core {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  // Allocation or init failure of a built-in digest means a broken OpenSSL install: a bug.
  [[maybe_unused]] int ok =
      state_->ctx != nullptr && EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) == 1;
  assert(ok && "OpenSSL SHA-256 init failed");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::span<const std::byte> data) {
  assert(state_ && !state_->finished);
  if (data.empty()) return;
  EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

void Sha256::Update(std::string_view data) { Update(std::as_bytes(std::span(data))); }

Sha256Digest Sha256::Finish() {
  assert(state_ && !state_->finished);
  Sha256Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, out.data(), &len);
  assert(len == out.size());
  state_->finished = true;
  return out;
}

std::string Sha256::FinishHex() {
  Sha256Digest d = Finish();
  return ToHex(d);
}

struct Xxh3_64::State {
  XXH3_state_t* st = nullptr;
  bool finished = false;
  ~State() { XXH3_freeState(st); }
};

Xxh3_64::Xxh3_64() : state_(std::make_unique<State>()) {
  state_->st = XXH3_createState();
  [[maybe_unused]] bool ok = state_->st != nullptr && XXH3_64bits_reset(state_->st) == XXH_OK;
  assert(ok && "XXH3 init failed");
}
Xxh3_64::~Xxh3_64() = default;
Xxh3_64::Xxh3_64(Xxh3_64&&) noexcept = default;
Xxh3_64& Xxh3_64::operator=(Xxh3_64&&) noexcept = default;

void Xxh3_64::Update(std::span<const std::byte> data) {
  assert(state_ && !state_->finished);
  if (data.empty()) return;
  XXH3_64bits_update(state_->st, data.data(), data.size());
}

void Xxh3_64::Update(std::string_view data) { Update(std::as_bytes(std::span(data))); }

std::uint64_t Xxh3_64::Finish() {
  assert(state_ && !state_->finished);
  state_->finished = true;
  return XXH3_64bits_digest(state_->st);
}

Sha256Digest Sha256Of(std::span<const std::byte> data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

std::string Sha256Hex(std::span<const std::byte> data) { return ToHex(Sha256Of(data)); }

std::string Sha256Hex(std::string_view data) { return Sha256Hex(std::as_bytes(std::span(data))); }

std::uint64_t Xxh3_64Of(std::span<const std::byte> data) {
  return XXH3_64bits(data.data(), data.size());
}

std::uint64_t Xxh3_64Of(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

std::string Hex64(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[value & 0xF];
    value >>= 4;
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::uint64_t> ParseHex64(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    int d = HexValue(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return v;
}

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::string> Sha256FileHex(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Status(err == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                  "cannot open " + path + " for hashing: " + std::strerror(err));
  }
  Sha256 h;
  std::vector<std::byte> buf(1 << 20);
  while (true) {
    const IoResult r = ReadFull(fd, buf.data(), buf.size());
    if (!r.ok()) {
      ::close(fd);
      return DataLoss("read error while hashing " + path + ": " + std::strerror(r.error));
    }
    h.Update(std::span(buf.data(), r.done));
    if (r.done < buf.size()) break;
  }
  ::close(fd);
  return h.FinishHex();
}

}  // namespace sdxl::core
