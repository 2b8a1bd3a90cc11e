#pragma once
// Strict JSON parsing for untrusted headers and manifests: nlohmann's parser plus duplicate-key
// rejection (in every object) and a nesting limit. Never throws; pure and thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sdxl::weights {

// Parses `text` as one JSON value (surrounding whitespace allowed). On failure returns the
// reason ("invalid JSON at byte 12: ...", "duplicate key \"x\"", ...) as DataLoss; callers add
// context. `max_depth` bounds nesting of arrays/objects.
core::Result<nlohmann::json> ParseStrictJson(std::string_view text, int max_depth);

// "invalid JSON at byte N: <reason>" from a nlohmann parse error, with input bytes that the
// reason quotes made printable (they may be invalid UTF-8).
std::string JsonParseErrorMessage(std::size_t position, const nlohmann::detail::exception& ex);

// `s` shortened to 64 characters with non-printable bytes replaced by '?', for error messages.
std::string PrintableForError(std::string_view s);

}  // namespace sdxl::weights
