#pragma once
// The upload journal of prepare-model: the object `.sdxl-tigris-upload.json` (kUploadJournalName)
// beside the model, recording each upload that finished (destination path -> SHA-256, size,
// ETag), so that a rerun after an interruption (even kill -9) skips exactly those files. It exists
// only while a model is incomplete: the manifest replaces it at the end.
//
// A corrupt journal is not an error: the journal is only an optimisation, so prepare-model logs
// a warning that names the object and says it is ignored ("every file is uploaded again") and the
// run starts the upload over; the files themselves are checked against the new manifest anyway.
// The same holds for a journal that is listed but cannot be read.
//
// Pure functions (JournalToJson, ParseJournal) are thread-safe; the store functions are as
// thread-safe as the store.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"
#include "storage/object_store.h"

namespace sdxl::prepare {

inline constexpr std::string_view kUploadJournalName = ".sdxl-tigris-upload.json";

struct JournalEntry {
  std::string sha256;
  std::uint64_t size = 0;
  std::string etag;
};
using Journal = std::map<std::string, JournalEntry>;  // destination path -> finished upload

// {"format_version": 1, "files": {path: {"sha256", "size", "etag"}}} followed by a newline.
std::string JournalToJson(const Journal& journal);

// The journal in `text`; DataLoss with the reason when it is not one (bad JSON, missing or
// mistyped fields).
core::Result<Journal> ParseJournal(std::string_view text);

// The journal stored in `store`, read only when `listed` (the listing showed it). Empty when
// absent; empty with a warning naming the object when it is unreadable or corrupt (see above).
Journal ReadUploadJournal(storage::ObjectStore& store, bool listed);

// Writes `journal` to `store` (one PUT).
core::Status SaveUploadJournal(storage::ObjectStore& store, const Journal& journal);

}  // namespace sdxl::prepare
