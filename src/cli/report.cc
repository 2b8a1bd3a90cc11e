// ReportStatus / ReportUsage (command.h): the one-line error reports and the exit codes.
#include <cstdio>
#include <string>

#include "cli/command.h"

namespace sdxl::cli {

int ReportStatus(const core::Status& status) {
  if (status.ok()) return kExitOk;
  std::fprintf(stderr, "sdxl-tigris: %s\n", status.message().c_str());
  return status.code() == core::Code::kCancelled ? kExitInterrupted : kExitFailure;
}

int ReportUsage(std::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  std::fprintf(stderr, "sdxl-tigris: %s\n", line.c_str());
  return kExitUsage;
}

int ReportUsage(const core::Status& status) { return ReportUsage(status.message()); }

}  // namespace sdxl::cli
