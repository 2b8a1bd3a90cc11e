#include "storage/s3_object_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "core/hash.h"
#include "storage/s3_xml.h"

namespace sdxl::storage {
namespace {

std::string Md5Base64(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, md, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

// S3's ETag of a completed multipart upload, md5(md5(part 1) .. md5(part N))-N, from the parts'
// ETags; "" when a part's ETag is not a plain MD5 (SSE-KMS, some gateways).
std::string MultipartEtag(std::span<const PartInfo> parts) {
  std::string digests;
  for (const auto& p : parts) {
    if (p.etag.size() != 32) return "";
    for (size_t i = 0; i < 32; i += 2) {
      const int hi = std::isxdigit(static_cast<unsigned char>(p.etag[i]));
      const int lo = std::isxdigit(static_cast<unsigned char>(p.etag[i + 1]));
      if (!hi || !lo) return "";
      digests.push_back(static_cast<char>(std::stoi(p.etag.substr(i, 2), nullptr, 16)));
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(digests.data(), digests.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out + "-" + std::to_string(parts.size());
}

http::RetryOptions RetryOptionsFor(const S3Config& config) {
  http::RetryOptions o;
  o.max_attempts = config.max_attempts;
  return o;
}

bool Is2xx(int status) { return status >= 200 && status < 300; }

// Parses "bytes START-END/TOTAL"; returns false when malformed.
bool ParseContentRange(std::string_view v, std::uint64_t* start, std::uint64_t* end) {
  if (!v.starts_with("bytes ")) return false;
  v.remove_prefix(6);
  const size_t dash = v.find('-');
  const size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return false;
  }
  *start = std::strtoull(std::string(v.substr(0, dash)).c_str(), nullptr, 10);
  *end = std::strtoull(std::string(v.substr(dash + 1, slash - dash - 1)).c_str(), nullptr, 10);
  return true;
}

}  // namespace

struct S3ObjectStore::Call {
  std::string method = "GET";
  const std::string* full_key = nullptr;  // nullptr: a bucket-level request
  http::QueryParams query;
  http::Headers headers;
  std::string_view body;
  const http::BodySink* sink = nullptr;
  const http::BodyBuffer* direct = nullptr;  // optional zero-copy receiver beside `sink`
  const std::atomic<bool>* cancel = nullptr;
  int max_attempts = 0;  // 0: config
  std::string what;
  int ok_status = 0;  // a non-2xx status that counts as success (404 for Delete, ...)
};

core::Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Create(const S3Config& config,
                                                                   std::string bucket,
                                                                   std::string prefix,
                                                                   S3StoreOptions options) {
  SDXL_RETURN_IF_ERROR(config.RequireCredentials());
  if (bucket.empty() || bucket.find('/') != std::string::npos) {
    return core::InvalidArgument("bucket name \"" + bucket + "\" is invalid");
  }
  SDXL_ASSIGN_OR_RETURN(http::Url endpoint, http::ParseUrl(config.EffectiveEndpoint()));
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  return std::unique_ptr<S3ObjectStore>(new S3ObjectStore(
      config, std::move(bucket), std::move(prefix), std::move(endpoint), std::move(options)));
}

namespace {
// The transport options, with the configuration's CA bundle unless the caller chose one.
http::HttpClientOptions HttpOptionsFor(const S3Config& config, http::HttpClientOptions http) {
  if (http.ca_bundle.empty()) http.ca_bundle = config.ca_bundle;
  return http;
}
}  // namespace

S3ObjectStore::S3ObjectStore(const S3Config& config, std::string bucket, std::string prefix,
                             http::Url endpoint, S3StoreOptions options)
    : config_(config),
      bucket_(std::move(bucket)),
      root_(std::move(prefix)),
      endpoint_(std::move(endpoint)),
      path_style_(config.UsePathStyle(bucket_)),
      signer_(config.credentials, config.region, "s3"),
      options_(std::move(options)),
      client_(HttpOptionsFor(config, options_.http)),
      retry_(RetryOptionsFor(config), options_.retry_rng) {
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
}

std::string S3ObjectStore::Describe() const {
  return "s3://" + bucket_ + (root_.empty() ? "" : "/" + root_.substr(0, root_.size() - 1));
}

std::string S3ObjectStore::DescribeKey(std::string_view key) const {
  return "s3://" + bucket_ + "/" + FullKey(key);
}

void S3ObjectStore::Target(const std::string* full_key, std::string* host,
                           std::string* path) const {
  // The endpoint may carry a base path (e.g. a gateway mounted under /s3).
  std::string base = endpoint_.path;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (path_style_) {
    *host = endpoint_.HostHeader();
    *path = base + "/" + http::UriEncode(bucket_, false);
    if (full_key != nullptr) *path += "/" + http::UriEncode(*full_key, /*keep_slash=*/true);
  } else {
    http::Url u = endpoint_;
    u.host = bucket_ + "." + endpoint_.host;
    *host = u.HostHeader();
    *path = base + "/" + (full_key != nullptr ? http::UriEncode(*full_key, true) : "");
  }
}

std::string S3ObjectStore::ObjectUrl(std::string_view key) const {
  const std::string full = FullKey(key);
  std::string host, path;
  Target(&full, &host, &path);
  return endpoint_.scheme + "://" + host + path;
}

void S3ObjectStore::Sleep(std::chrono::milliseconds d, const std::atomic<bool>* cancel) {
  if (options_.sleep) {
    options_.sleep(d);
    return;
  }
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (cancel != nullptr && cancel->load()) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
  }
}

core::Result<http::HttpResponse> S3ObjectStore::Execute(Call& call) {
  const std::string payload = PayloadHashFor(endpoint_.scheme, call.body);
  const int max_attempts = call.max_attempts > 0 ? call.max_attempts : config_.max_attempts;
  std::string host, path;
  Target(call.full_key, &host, &path);
  const std::string query = http::CanonicalQueryString(call.query);
  const std::string url =
      endpoint_.scheme + "://" + host + path + (query.empty() ? "" : "?" + query);
  for (int attempt = 1;; ++attempt) {
    SignableRequest sr{call.method, path, call.query, call.headers, payload};
    sr.headers.emplace_back("Host", host);
    signer_.SignHeaders(sr, options_.clock());
    http::HttpRequest req;
    req.method = call.method;
    req.url = url;
    req.headers = std::move(sr.headers);
    req.body = call.body;
    req.direct_body = call.direct;
    auto res = client_.Send(req, call.sink, call.cancel);
    core::Status st;
    if (!res.ok()) {
      st = res.status();
      if (st.code() == core::Code::kCancelled) return st;
      st = core::Status(st.code(), call.what + ": " + st.message(), st.retryable());
    } else if (Is2xx(res->status) ||
               (call.ok_status != 0 && res->status == call.ok_status &&
                // "already gone" is fine for the object, never for the bucket: a DELETE in a
                // missing bucket is a 404 NoSuchBucket (AWS, moto), and must say so.
                !(res->status == 404 && ParseS3Error(res->body).code == "NoSuchBucket"))) {
      retry_.OnSuccess(attempt > 1);
      return res;
    } else {
      st = S3ErrorToStatus(res->status, ParseS3Error(res->body), call.what);
    }
    if (attempt >= max_attempts) {
      if (attempt > 1 && st.retryable()) {
        return core::Status(
                   st.code(),
                   st.message() + " (gave up after " + std::to_string(attempt) + " attempts)",
                   st.retryable())
            .WithHttp(st.http_status(), st.service_code());
      }
      return st;
    }
    auto delay = retry_.NextDelay(st, attempt);
    if (!delay) return st;
    Sleep(*delay, call.cancel);
    if (call.cancel != nullptr && call.cancel->load()) return core::Cancelled("cancelled");
  }
}

core::Result<ObjectInfo> S3ObjectStore::Head(std::string_view key) {
  const std::string full = FullKey(key);
  Call call;
  call.method = "HEAD";
  call.full_key = &full;
  call.what = "HEAD " + DescribeKey(key);
  auto head = Execute(call);
  if (!head.ok() && head.status().http_status() == 404 && head.status().service_code().empty()) {
    // A HEAD 404 has no body: ask whether the bucket is the missing part, so that the message
    // says which (`cp s3://missing-bucket/k .` must not blame the key).
    auto exists = BucketExists();
    if (exists.ok() && !*exists) {
      S3Error e;
      e.code = "NoSuchBucket";
      return S3ErrorToStatus(404, e, call.what);
    }
  }
  SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, std::move(head));
  ObjectInfo info;
  info.key = std::string(key);
  const auto len = res.Header("Content-Length");
  if (!len) return core::DataLoss(call.what + ": response has no Content-Length");
  info.size = std::strtoull(len->c_str(), nullptr, 10);
  info.etag = StripQuotes(res.Header("ETag").value_or(""));
  info.last_modified = res.Header("Last-Modified").value_or("");
  return info;
}

core::Status S3ObjectStore::GetRange(std::string_view key, std::uint64_t offset,
                                     std::optional<std::uint64_t> length, const ChunkSink& sink,
                                     const ReadOptions& options) {
  if (length && *length == 0) return core::Status::Ok();
  const std::string full = FullKey(key);
  const std::string what = "GET " + DescribeKey(key);
  const int max_attempts = options.max_attempts > 0 ? options.max_attempts : config_.max_attempts;
  std::uint64_t received = 0;
  int attempt = 0;          // attempts since the last progress
  int total_attempts = 0;   // hard bound
  core::Status sink_error;  // why we stopped the body ourselves
  for (;;) {
    ++attempt;
    ++total_attempts;
    const std::uint64_t start = offset + received;
    Call call;
    call.full_key = &full;
    call.cancel = options.cancel;
    call.max_attempts = 1;
    call.what = what;
    if (!options.if_match.empty())
      call.headers.emplace_back("If-Match", "\"" + options.if_match + "\"");
    const bool ranged = start > 0 || length.has_value();
    if (ranged) {
      std::string range = "bytes=" + std::to_string(start) + "-";
      if (length) range += std::to_string(offset + *length - 1);
      call.headers.emplace_back("Range", range);
    }
    bool checked_headers = false;
    http::BodySink body_sink = [&](std::string_view chunk) -> bool {
      if (!checked_headers) checked_headers = true;
      if (length && received + chunk.size() > *length) {
        sink_error = core::DataLoss(what + ": server sent more bytes than the range asked for");
        return false;
      }
      received += chunk.size();
      if (!sink(chunk)) {
        sink_error = core::Cancelled("cancelled");
        return false;
      }
      return true;
    };
    call.sink = &body_sink;
    // The zero-copy twin of body_sink, when the caller lends memory: the space offered never
    // reaches past the range, so a server sending more than asked is caught on the next byte.
    char overflow[1];
    http::BodyBuffer direct_body;
    if (options.buffer != nullptr) {
      direct_body.space = [&]() -> std::span<char> {
        const std::span<char> space = options.buffer->space();
        if (!length) return space;
        const std::uint64_t left = *length - received;
        if (left == 0) return std::span<char>(overflow, 1);
        return space.first(static_cast<std::size_t>(std::min<std::uint64_t>(space.size(), left)));
      };
      direct_body.commit = [&](std::size_t n) -> bool {
        if (length && received + n > *length) {
          sink_error = core::DataLoss(what + ": server sent more bytes than the range asked for");
          return false;
        }
        received += n;
        if (!options.buffer->commit(n)) {
          sink_error = core::Cancelled("cancelled");
          return false;
        }
        return true;
      };
      call.direct = &direct_body;
    }
    const std::uint64_t before = received;
    auto res = Execute(call);
    core::Status st;
    if (!sink_error.ok()) return sink_error;
    if (!res.ok()) {
      st = res.status();
    } else {
      // A ranged request must come back as 206 starting where we asked; a 200 is only fine when
      // we asked for the whole object from byte 0.
      if (ranged && res->status == 200 && start != 0) {
        return core::DataLoss(what + ": server ignored the Range header");
      }
      if (res->status == 206) {
        std::uint64_t cr_start = 0, cr_end = 0;
        const auto cr = res->Header("Content-Range");
        if (!cr || !ParseContentRange(*cr, &cr_start, &cr_end) || cr_start != start) {
          return core::DataLoss(what + ": unexpected Content-Range \"" + cr.value_or("") + "\"");
        }
      }
      if (!length || received == *length) return core::Status::Ok();
      st = core::Unavailable(what + ": body ended after " + std::to_string(received) + " of " +
                             std::to_string(*length) + " bytes");
    }
    if (st.code() == core::Code::kCancelled || !st.retryable()) return st;
    if (received > before) attempt = 1;  // progress: the budget restarts, from the last byte
    if (attempt >= max_attempts || total_attempts >= 4 * max_attempts) {
      return core::Status(
          st.code(),
          st.message() + " (gave up after " + std::to_string(total_attempts) + " attempts)", true);
    }
    auto delay = retry_.NextDelay(st, attempt);
    if (!delay) return st;
    Sleep(*delay, options.cancel);
    if (options.cancel != nullptr && options.cancel->load()) return core::Cancelled("cancelled");
  }
}

core::Result<std::string> S3ObjectStore::Put(std::string_view key, std::string_view data,
                                             std::string_view content_type) {
  const std::string full = FullKey(key);
  Call call;
  call.method = "PUT";
  call.full_key = &full;
  call.body = data;
  call.what = "PUT " + DescribeKey(key);
  if (!content_type.empty()) call.headers.emplace_back("Content-Type", std::string(content_type));
  SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
  return StripQuotes(res.Header("ETag").value_or(""));
}

core::Result<std::string> S3ObjectStore::CreateMultipartUpload(std::string_view key) {
  const std::string full = FullKey(key);
  Call call;
  call.method = "POST";
  call.full_key = &full;
  call.query = {{"uploads", ""}};
  call.what = "CreateMultipartUpload " + DescribeKey(key);
  SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
  return ParseInitiateMultipartUpload(res.body);
}

core::Result<std::string> S3ObjectStore::UploadPart(std::string_view key,
                                                    std::string_view upload_id, int part_number,
                                                    std::string_view data) {
  const std::string full = FullKey(key);
  Call call;
  call.method = "PUT";
  call.full_key = &full;
  call.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}};
  call.body = data;
  call.what = "UploadPart " + std::to_string(part_number) + " of " + DescribeKey(key);
  SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
  auto etag = res.Header("ETag");
  if (!etag) return core::DataLoss(call.what + ": response has no ETag");
  return StripQuotes(*etag);
}

core::Result<std::string> S3ObjectStore::CompleteMultipartUpload(std::string_view key,
                                                                 std::string_view upload_id,
                                                                 std::span<const PartInfo> parts) {
  const std::string full = FullKey(key);
  const std::string body = BuildCompleteMultipartUpload(parts);
  const std::string what = "CompleteMultipartUpload " + DescribeKey(key);
  for (int attempt = 1;; ++attempt) {
    Call call;
    call.method = "POST";
    call.full_key = &full;
    call.query = {{"uploadId", std::string(upload_id)}};
    call.headers = {{"Content-Type", "application/xml"}};
    call.body = body;
    call.what = what;
    auto res = Execute(call);
    if (!res.ok() && res.status().service_code() == "NoSuchUpload") {
      // An earlier attempt (here or a retry inside Execute) may have completed the upload
      // although its answer was lost or was a 200 with an error body: the object is then there,
      // with exactly the ETag these parts make.
      const std::string expected = MultipartEtag(parts);
      auto head = Head(key);
      if (!expected.empty() && head.ok() && head->etag == expected) return head->etag;
    }
    if (!res.ok()) return res.status();
    auto etag = ParseCompleteMultipartUpload(res->body);
    if (etag.ok() || !etag.status().retryable() || attempt >= config_.max_attempts) return etag;
    auto delay = retry_.NextDelay(etag.status(), attempt);
    if (!delay) return etag;
    Sleep(*delay, nullptr);
  }
}

core::Status S3ObjectStore::AbortMultipartUpload(std::string_view key, std::string_view upload_id) {
  const std::string full = FullKey(key);
  Call call;
  call.method = "DELETE";
  call.full_key = &full;
  call.query = {{"uploadId", std::string(upload_id)}};
  call.what = "AbortMultipartUpload " + DescribeKey(key);
  call.ok_status = 404;  // already gone
  return Execute(call).status();
}

core::Result<std::vector<PartInfo>> S3ObjectStore::ListParts(std::string_view key,
                                                             std::string_view upload_id) {
  const std::string full = FullKey(key);
  std::vector<PartInfo> parts;
  std::string marker;
  for (;;) {
    Call call;
    call.full_key = &full;
    call.query = {{"uploadId", std::string(upload_id)}};
    if (!marker.empty()) call.query.emplace_back("part-number-marker", marker);
    call.what = "ListParts " + DescribeKey(key);
    SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
    SDXL_ASSIGN_OR_RETURN(PartsPage page, ParseListParts(res.body));
    parts.insert(parts.end(), page.parts.begin(), page.parts.end());
    if (!page.truncated || page.next_part_number_marker.empty() ||
        page.next_part_number_marker == marker) {
      break;
    }
    marker = page.next_part_number_marker;
  }
  return parts;
}

core::Result<std::vector<UploadInfo>> S3ObjectStore::ListMultipartUploads(std::string_view prefix) {
  const std::string full_prefix = FullKey(prefix);
  std::vector<UploadInfo> out;
  std::string key_marker, id_marker;
  for (;;) {
    Call call;
    call.query = {{"uploads", ""}, {"prefix", full_prefix}};
    if (!key_marker.empty()) call.query.emplace_back("key-marker", key_marker);
    if (!id_marker.empty()) call.query.emplace_back("upload-id-marker", id_marker);
    call.what = "ListMultipartUploads " + Describe() +
                (prefix.empty() ? "" : " prefix " + std::string(prefix));
    SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
    SDXL_ASSIGN_OR_RETURN(UploadsPage page, ParseListMultipartUploads(res.body));
    for (auto& u : page.uploads) {
      if (!u.key.starts_with(root_)) continue;
      u.key.erase(0, root_.size());
      out.push_back(std::move(u));
    }
    if (!page.truncated) break;
    if (page.next_key_marker == key_marker && page.next_upload_id_marker == id_marker) {
      return core::DataLoss(call.what + ": server repeated its next markers");
    }
    key_marker = page.next_key_marker;
    id_marker = page.next_upload_id_marker;
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const UploadInfo& a, const UploadInfo& b) { return a.key < b.key; });
  return out;
}

core::Result<std::vector<ObjectInfo>> S3ObjectStore::List(std::string_view prefix) {
  const std::string full_prefix = FullKey(prefix);
  std::vector<ObjectInfo> out;
  std::string token;
  for (int page_no = 0;; ++page_no) {
    Call call;
    call.query = {{"list-type", "2"}, {"prefix", full_prefix}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    call.what = "LIST " + Describe() + (prefix.empty() ? "" : " prefix " + std::string(prefix));
    SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
    SDXL_ASSIGN_OR_RETURN(ListPage page, ParseListObjectsV2(res.body));
    for (auto& o : page.objects) {
      if (!o.key.starts_with(root_)) continue;
      o.key.erase(0, root_.size());
      out.push_back(std::move(o));
    }
    if (!page.truncated) break;
    if (page.next_continuation_token == token) {
      return core::DataLoss(call.what + ": server repeated a continuation token");
    }
    token = page.next_continuation_token;
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

core::Status S3ObjectStore::Delete(std::string_view key) {
  const std::string full = FullKey(key);
  Call call;
  call.method = "DELETE";
  call.full_key = &full;
  call.what = "DELETE " + DescribeKey(key);
  call.ok_status = 404;
  return Execute(call).status();
}

core::Status S3ObjectStore::DeleteMany(std::span<const std::string> keys) {
  for (size_t i = 0; i < keys.size(); i += 1000) {
    std::vector<std::string> batch;
    for (size_t j = i; j < std::min(keys.size(), i + 1000); ++j) batch.push_back(FullKey(keys[j]));
    const std::string body = BuildDeleteObjects(batch);
    Call call;
    call.method = "POST";
    call.query = {{"delete", ""}};
    call.headers = {{"Content-Type", "application/xml"}, {"Content-MD5", Md5Base64(body)}};
    call.body = body;
    call.what = "DeleteObjects in " + Describe();
    SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
    SDXL_ASSIGN_OR_RETURN(std::vector<std::string> failed, ParseDeleteResult(res.body));
    if (!failed.empty()) {
      return core::PermissionDenied(call.what + ": " + std::to_string(failed.size()) +
                                    " objects not deleted, first: " + failed.front());
    }
  }
  return core::Status::Ok();
}

core::Status S3ObjectStore::CreateBucket() {
  Call call;
  call.method = "PUT";
  call.what = "CreateBucket s3://" + bucket_;
  std::string body;
  if (config_.region != "us-east-1" && config_.region != "auto" && !config_.region.empty() &&
      config_.endpoint_url.empty()) {
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        config_.region + "</LocationConstraint></CreateBucketConfiguration>";
  }
  call.body = body;
  auto res = Execute(call);
  if (!res.ok() && res.status().service_code() == "BucketAlreadyOwnedByYou") {
    return core::Status::Ok();
  }
  return res.status();
}

core::Result<bool> S3ObjectStore::BucketExists() {
  Call call;
  call.method = "HEAD";
  call.what = "HeadBucket s3://" + bucket_;
  call.ok_status = 404;
  SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, Execute(call));
  return res.status != 404;
}

core::Result<std::vector<BucketInfo>> S3ObjectStore::ListBuckets(const S3Config& config,
                                                                 S3StoreOptions options) {
  SDXL_RETURN_IF_ERROR(config.RequireCredentials());
  SDXL_ASSIGN_OR_RETURN(http::Url endpoint, http::ParseUrl(config.EffectiveEndpoint()));
  // A service-level store: no bucket, so requests go to the endpoint's root path.
  S3Config service = config;
  service.addressing_style = AddressingStyle::kPath;
  std::unique_ptr<S3ObjectStore> store(
      new S3ObjectStore(service, "", "", std::move(endpoint), std::move(options)));
  std::vector<BucketInfo> out;
  std::string token;
  for (;;) {
    Call call;
    if (!token.empty()) call.query = {{"continuation-token", token}};
    call.what = "ListBuckets on " + config.EffectiveEndpoint();
    SDXL_ASSIGN_OR_RETURN(http::HttpResponse res, store->Execute(call));
    SDXL_ASSIGN_OR_RETURN(BucketsPage page, ParseListBuckets(res.body));
    out.insert(out.end(), page.buckets.begin(), page.buckets.end());
    if (page.continuation_token.empty()) break;
    if (page.continuation_token == token) {
      return core::DataLoss(call.what + ": server repeated a continuation token");
    }
    token = page.continuation_token;
  }
  std::sort(out.begin(), out.end(),
            [](const BucketInfo& a, const BucketInfo& b) { return a.name < b.name; });
  return out;
}

core::Result<std::string> S3ObjectStore::Presign(std::string_view key, PresignMethod method,
                                                 std::chrono::seconds expires) {
  if (expires.count() < 1 || expires.count() > 604800) {
    return core::InvalidArgument("presign expiry must be 1 to 604800 seconds (7 days), got " +
                                 std::to_string(expires.count()));
  }
  const std::string full = FullKey(key);
  std::string host, path;
  Target(&full, &host, &path);
  SignableRequest sr{method == PresignMethod::kPut ? "PUT" : "GET",
                     path,
                     {},
                     {{"host", host}},
                     std::string(kUnsignedPayload)};
  const std::string query = signer_.PresignQuery(sr, options_.clock(), expires);
  return endpoint_.scheme + "://" + host + path + "?" + query;
}

}  // namespace sdxl::storage
