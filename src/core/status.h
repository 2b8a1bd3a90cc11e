#pragma once
// Status and Result<T>: how every I/O, network and user-input failure travels in sdxl-tigris.
//
// A Status is OK or carries a Code, a human message (one line, says what to do), an optional
// transport detail (HTTP status, service error code) and whether retrying could help.
// Result<T> holds either a T or a non-OK Status. Both are values: copyable, movable, and safe to
// read from several threads at once (no mutation after construction).
// Exceptions never cross module edges: code that calls throwing libraries (LibTorch, JSON)
// catches at its edge and returns a Status.

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sdxl::core {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad user input or configuration
  kNotFound,         // object, file, repo, revision missing
  kAlreadyExists,
  kPermissionDenied,    // credentials valid but not allowed (403)
  kUnauthenticated,     // missing or bad credentials (401, signature mismatch)
  kUnavailable,         // transient: 5xx, throttling, connection errors
  kDeadlineExceeded,    // timeouts, stalls
  kDataLoss,            // corrupt or truncated data, checksum mismatch
  kFailedPrecondition,  // e.g. object changed mid-download (412)
  kCancelled,           // interrupted by the user
  kUnimplemented,
  kInternal,           // a bug or an unexpected library failure
  kResourceExhausted,  // a disk or a quota is full (ENOSPC, EDQUOT)
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message, bool retryable = false)
      : code_(code), message_(std::move(message)), retryable_(retryable) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when the same request may succeed if sent again (after a backoff).
  bool retryable() const { return retryable_; }

  // Optional transport details, kept for logs and retry decisions.
  int http_status() const { return http_status_; }
  const std::string& service_code() const { return service_code_; }
  Status&& WithHttp(int http_status, std::string service_code = {}) && {
    http_status_ = http_status;
    service_code_ = std::move(service_code);
    return std::move(*this);
  }
  Status& WithHttp(int http_status, std::string service_code = {}) & {
    http_status_ = http_status;
    service_code_ = std::move(service_code);
    return *this;
  }

  // Returns a copy whose message is "context: message".
  Status Annotate(std::string_view context) const;

  // "NOT_FOUND: message" (or "OK").
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  bool retryable_ = false;
  int http_status_ = 0;
  std::string service_code_;
};

// Shorthand constructors.
inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m), true}; }
inline Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status DeadlineExceeded(std::string m) {
  return {Code::kDeadlineExceeded, std::move(m), true};
}
// "what: strerror(err)" with the code a file-system errno means: ENOENT NotFound, EACCES/EPERM
// PermissionDenied, ENOSPC/EDQUOT ResourceExhausted with a hint to free disk space, anything else
// Unavailable.
Status ErrnoStatus(const std::string& what, int err);
// True for the status of a full disk or quota (ResourceExhausted), e.g. to go on without a cache.
inline bool IsNoSpace(const Status& s) { return s.code() == Code::kResourceExhausted; }

// Result<T>: a T or a non-OK Status. Accessing value() of an error is a bug (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sdxl::core

// Early-return helpers. SDXL_RETURN_IF_ERROR(expr) for Status; SDXL_ASSIGN_OR_RETURN(lhs, expr)
// for Result<T> (lhs may be a declaration: `auto x`).
#define SDXL_CONCAT_INNER_(a, b) a##b
#define SDXL_CONCAT_(a, b) SDXL_CONCAT_INNER_(a, b)
#define SDXL_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::sdxl::core::Status sdxl_status_ = (expr);  \
    if (!sdxl_status_.ok()) return sdxl_status_; \
  } while (0)
#define SDXL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
#define SDXL_ASSIGN_OR_RETURN(lhs, expr) \
  SDXL_ASSIGN_OR_RETURN_IMPL_(SDXL_CONCAT_(sdxl_result_, __LINE__), lhs, expr)
