#include "serve/output_store.h"

#include <openssl/rand.h>

#include <random>
#include <thread>
#include <utility>

namespace sdxl::serve {
namespace {

class DataUrlOutputStore final : public OutputStore {
 public:
  core::Result<std::string> Store(std::string_view, std::span<const std::uint8_t> bytes,
                                  std::string_view mime_type) override {
    return DataUrl(mime_type, bytes);
  }
  std::string Describe() const override { return "data URLs (PUBLIC_BUCKET_NAME not set)"; }
};

class BucketOutputStore final : public OutputStore {
 public:
  BucketOutputStore(std::unique_ptr<storage::ObjectStore> bucket, std::string prefix,
                    std::chrono::seconds expires)
      : bucket_(std::move(bucket)), prefix_(std::move(prefix)), expires_(expires) {}

  core::Result<std::string> Store(std::string_view name, std::span<const std::uint8_t> bytes,
                                  std::string_view mime_type) override {
    const std::string key = prefix_ + std::string(name);
    auto put = bucket_->Put(
        key, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
        mime_type);
    if (!put.ok()) {
      return put.status().Annotate("uploading the image to " + bucket_->DescribeKey(key));
    }
    auto url = bucket_->Presign(key, storage::PresignMethod::kGet, expires_);
    if (!url.ok()) return url.status().Annotate("presigning " + bucket_->DescribeKey(key));
    return url;
  }
  std::string Describe() const override {
    return bucket_->Describe() + (prefix_.empty() ? "" : "/" + prefix_) + " (presigned GET, " +
           std::to_string(expires_.count()) + " s)";
  }

 private:
  std::unique_ptr<storage::ObjectStore> bucket_;
  std::string prefix_;
  std::chrono::seconds expires_;
};

std::string StripQuery(std::string url) {
  if (const auto q = url.find_first_of("?#"); q != std::string::npos) url.resize(q);
  return url;
}

class UploadUrlOutputStore final : public OutputStore {
 public:
  explicit UploadUrlOutputStore(std::string base_url) : base_(std::move(base_url)) {
    if (!base_.empty() && base_.back() != '/') base_.push_back('/');
  }

  core::Result<std::string> Store(std::string_view name, std::span<const std::uint8_t> bytes,
                                  std::string_view mime_type) override {
    http::HttpRequest req;
    req.method = "PUT";
    req.url = base_ + std::string(name);
    req.headers = {{"Content-Type", std::string(mime_type)}};
    req.body = std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    // Cog retries 408/429/5xx a few times; so do we (connection errors too).
    core::Status last = core::Unavailable("not sent");
    for (int attempt = 1; attempt <= 4; ++attempt) {
      if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
      auto resp = client_.Send(req);
      if (!resp.ok()) {
        last = resp.status();
        continue;
      }
      const int s = resp->status;
      if (s >= 200 && s < 300) {
        if (auto loc = resp->Header("Location"); loc && !loc->empty()) return StripQuery(*loc);
        return StripQuery(req.url);
      }
      last = core::Unavailable("upload to " + StripQuery(req.url) + " failed with HTTP " +
                               std::to_string(s));
      if (!(s == 408 || s == 429 || s >= 500)) break;
    }
    return last;
  }
  std::string Describe() const override { return "upload URL " + base_; }

 private:
  std::string base_;
  http::HttpClient client_;
};

}  // namespace

std::string Base64Encode(std::span<const std::uint8_t> bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= uint32_t{bytes[i + 1]} << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string DataUrl(std::string_view mime_type, std::span<const std::uint8_t> bytes) {
  return "data:" + std::string(mime_type) + ";base64," + Base64Encode(bytes);
}

std::unique_ptr<OutputStore> MakeDataUrlOutputStore() {
  return std::make_unique<DataUrlOutputStore>();
}

std::unique_ptr<OutputStore> MakeBucketOutputStore(std::unique_ptr<storage::ObjectStore> bucket,
                                                   std::string prefix,
                                                   std::chrono::seconds expires) {
  return std::make_unique<BucketOutputStore>(std::move(bucket), std::move(prefix), expires);
}

std::unique_ptr<OutputStore> MakeUploadUrlOutputStore(std::string base_url) {
  return std::make_unique<UploadUrlOutputStore>(std::move(base_url));
}

std::string RandomOutputName(std::string_view extension) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char random[22];
  if (RAND_bytes(random, sizeof random) != 1) {  // OpenSSL's CSPRNG; fall back to the OS's
    std::random_device rd;
    for (auto& b : random) b = static_cast<unsigned char>(rd());
  }
  std::string name = "out-";
  for (unsigned char b : random) name.push_back(kChars[b % 62]);  // ~130 bits
  name.push_back('.');
  name.append(extension);
  return name;
}

}  // namespace sdxl::serve
