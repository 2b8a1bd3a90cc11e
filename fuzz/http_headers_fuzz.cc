// libFuzzer target: the HTTP header values sdxl-tigris interprets (http/retry_after.h,
// http/range_resume.h). The input is a header block ("Name: value" lines); every value is also
// tried as a Content-Range. Invariants: a requested retry delay is 0..9999999999 s (at most 10
// digits are read); a parsed Content-Range satisfies first <= last < complete length,
// re-serializes and parses back to the same range, and a 206 carrying it resumes exactly at its
// first byte and nowhere else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/range_resume.h"
#include "http/retry_after.h"

namespace {

using namespace sdxl::http;

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckContentRange(std::string_view value) {
  const auto range = ParseContentRange(value);
  if (!range) return;
  Check(range->first <= range->last);
  if (range->complete_length) Check(range->last < *range->complete_length);
  const std::string again =
      "bytes " + std::to_string(range->first) + "-" + std::to_string(range->last) + "/" +
      (range->complete_length ? std::to_string(*range->complete_length) : std::string("*"));
  const auto back = ParseContentRange(again);
  Check(back && back->first == range->first && back->last == range->last &&
        back->complete_length == range->complete_length);

  HttpResponse head;
  head.status = 206;
  head.headers = {{"content-range", std::string(value)}};
  auto at_first = CheckResumeResponse(head, range->first);
  Check(at_first.ok() && *at_first == ResumeAction::kAppend);
  auto elsewhere = CheckResumeResponse(head, range->first + 1);
  Check(!elsewhere.ok() && elsewhere.status().code() == sdxl::core::Code::kDataLoss);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Headers headers;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (!value.empty() && value.back() == '\r') value.remove_suffix(1);
    headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    CheckContentRange(value);
  }
  CheckContentRange(text);

  if (const auto delay = RequestedRetryDelay(headers)) {
    Check(delay->count() >= 0 && delay->count() <= 9'999'999'999LL);
  }

  // A non-206 answer never resumes in the middle.
  HttpResponse whole;
  whole.status = 200;
  whole.headers = headers;
  auto restart = CheckResumeResponse(whole, 1 + size);
  Check(restart.ok() && *restart == ResumeAction::kRestart);
  return 0;
}
