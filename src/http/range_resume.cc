#include "http/range_resume.h"

#include <cctype>

namespace sdxl::http {
namespace {

// Parses a non-empty run of decimal digits (no sign, no overflow).
std::optional<std::uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::string RangeFrom(std::uint64_t offset) { return "bytes=" + std::to_string(offset) + "-"; }

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.size() < 6 || value.substr(0, 6) != "bytes ") return std::nullopt;
  value.remove_prefix(6);
  const size_t dash = value.find('-');
  const size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  auto first = ParseDecimal(value.substr(0, dash));
  auto last = ParseDecimal(value.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *first > *last) return std::nullopt;
  ContentRange range{*first, *last, std::nullopt};
  std::string_view length = value.substr(slash + 1);
  if (length != "*") {
    range.complete_length = ParseDecimal(length);
    if (!range.complete_length || *last >= *range.complete_length) return std::nullopt;
  }
  return range;
}

core::Result<ResumeAction> CheckResumeResponse(const HttpResponse& head, std::uint64_t offset) {
  if (head.status != 206) return offset > 0 ? ResumeAction::kRestart : ResumeAction::kAppend;
  const auto value = head.Header("Content-Range");
  const auto range = value ? ParseContentRange(*value) : std::nullopt;
  if (!range || range->first != offset) {
    return core::DataLoss("server answered a different range than asked for (Content-Range: '" +
                          value.value_or("") + "', wanted bytes from " + std::to_string(offset) +
                          ")");
  }
  return ResumeAction::kAppend;
}

}  // namespace sdxl::http
