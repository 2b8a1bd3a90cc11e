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

// `s` shortened to 64 characters with non-printable bytes replaced by '?', for error messages.
std::string PrintableForError(std::string_view s);

}  // namespace sdxl::weights
