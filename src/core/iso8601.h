#pragma once
// UTC timestamps as S3 writes them in XML ("2026-12-05T12:00:00.000Z", ISO 8601): one parser and
// one formatter for every module that compares or prints them (ls, uploads, sync, the local store).
// Pure functions, thread-safe.

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace sdxl::core {

// "YYYY-MM-DDTHH:MM:SS" with optional fraction and "Z" / "+00:00" -> seconds since the epoch.
// nullopt for anything else (an empty or unparsable value, a date out of range, another offset).
std::optional<std::time_t> ParseIso8601Utc(std::string_view text);

// seconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.000Z".
std::string FormatIso8601Utc(std::time_t t);

}  // namespace sdxl::core
