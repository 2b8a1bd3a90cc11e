#pragma once
// --exclude PATTERN / --include PATTERN on the commands that pick objects or files (cp and rm
// with --recursive, mv, sync), with aws s3's semantics: every pattern is matched against the path
// relative to the source folder or prefix (core/glob_filter.h: `*` crosses '/', `?`, `[...]`),
// the flags apply in the order they were given, the last one that matches decides, and
// everything is included by default. Not thread-safe while parsing; the filter it builds is.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/glob_filter.h"
#include "storage/transfer.h"

namespace sdxl::cli {

struct FilterFlags {
  std::vector<std::string> excludes;  // as parsed, per flag
  std::vector<std::string> includes;
  CLI::Option* exclude_option = nullptr;
  CLI::Option* include_option = nullptr;
  core::PathFilter filter;  // set by ApplyFilterFlags after parsing, in command-line order
};

// Declares --exclude and --include (repeatable) on `cmd`.
void AddFilterFlags(CLI::App* cmd, FilterFlags* flags);
// Builds flags->filter from what `cmd` parsed, interleaving the two flags in the order they
// appeared on the command line. Call it from the subcommand's callback.
void ApplyFilterFlags(const CLI::App& cmd, FilterFlags* flags);

// The entries of a listing whose relative path the filter includes, in order.
std::vector<storage::LocalFile> SelectFiles(std::vector<storage::LocalFile> files,
                                            const core::PathFilter& filter);
std::vector<storage::PrefixObject> SelectObjects(std::vector<storage::PrefixObject> objects,
                                                 const core::PathFilter& filter);
// " (--exclude/--include kept none of N)" when a filter emptied a non-empty listing, else "": the
// tail of a "nothing to copy/delete/move" message.
std::string FilteredOutNote(const core::PathFilter& filter, std::size_t listed);

}  // namespace sdxl::cli
