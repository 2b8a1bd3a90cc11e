#include "prepare/upload_journal.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace sdxl::prepare {
using nlohmann::json;

std::string JournalToJson(const Journal& j) {
  json out = {{"format_version", 1}, {"files", json::object()}};
  for (const auto& [k, e] : j) {
    out["files"][k] = {{"sha256", e.sha256}, {"size", e.size}, {"etag", e.etag}};
  }
  return out.dump(1) + "\n";
}

core::Result<Journal> ParseJournal(std::string_view text) {
  Journal j;
  try {
    auto in = json::parse(text);
    for (auto& [k, v] : in.at("files").items()) {
      j[k] = {v.at("sha256").get<std::string>(), v.at("size").get<uint64_t>(),
              v.at("etag").get<std::string>()};
    }
  } catch (const std::exception& e) {
    return core::DataLoss(std::string("not an upload journal: ") + e.what());
  }
  return j;
}

Journal ReadUploadJournal(storage::ObjectStore& store, bool listed) {
  if (!listed) return {};
  auto journal = [&]() -> core::Result<Journal> {
    SDXL_ASSIGN_OR_RETURN(std::string text, store.GetObject(kUploadJournalName));
    return ParseJournal(text);
  }();
  if (journal.ok()) return std::move(journal).value();
  spdlog::warn("the upload journal {} is {} ({}): it is ignored and every file is uploaded again",
               store.DescribeKey(kUploadJournalName),
               journal.status().code() == core::Code::kDataLoss ? "corrupt" : "unreadable",
               journal.status().message());
  return {};
}

core::Status SaveUploadJournal(storage::ObjectStore& store, const Journal& journal) {
  return store.Put(kUploadJournalName, JournalToJson(journal), "application/json").status();
}

}  // namespace sdxl::prepare
