#include "cli/filter_flags.h"

namespace sdxl::cli {

void AddFilterFlags(CLI::App* cmd, FilterFlags* flags) {
  // allow_extra_args(false): one value per flag, so `--exclude '*.bin' SRC DST` keeps SRC.
  flags->exclude_option =
      cmd->add_option("--exclude", flags->excludes,
                      "Skip paths (relative to the source folder/prefix) matching PATTERN: * any "
                      "characters including /, ? one, [abc] a class; repeatable, later "
                      "--exclude/--include flags win")
          ->allow_extra_args(false)
          ->type_name("PATTERN");
  flags->include_option =
      cmd->add_option("--include", flags->includes,
                      "Take back paths matching PATTERN that an earlier --exclude skipped "
                      "(everything is included by default)")
          ->allow_extra_args(false)
          ->type_name("PATTERN");
}

void ApplyFilterFlags(const CLI::App& cmd, FilterFlags* flags) {
  flags->filter = core::PathFilter();
  std::size_t next_exclude = 0;
  std::size_t next_include = 0;
  for (const CLI::Option* opt : cmd.parse_order()) {
    if (opt == flags->exclude_option && next_exclude < flags->excludes.size()) {
      flags->filter.Add(core::PathFilter::Rule::kExclude, flags->excludes[next_exclude++]);
    } else if (opt == flags->include_option && next_include < flags->includes.size()) {
      flags->filter.Add(core::PathFilter::Rule::kInclude, flags->includes[next_include++]);
    }
  }
}

std::vector<storage::LocalFile> SelectFiles(std::vector<storage::LocalFile> files,
                                            const core::PathFilter& filter) {
  if (filter.empty()) return files;
  std::erase_if(files, [&](const storage::LocalFile& f) { return !filter.Includes(f.relative); });
  return files;
}

std::vector<storage::PrefixObject> SelectObjects(std::vector<storage::PrefixObject> objects,
                                                 const core::PathFilter& filter) {
  if (filter.empty()) return objects;
  std::erase_if(objects,
                [&](const storage::PrefixObject& o) { return !filter.Includes(o.relative); });
  return objects;
}

std::string FilteredOutNote(const core::PathFilter& filter, std::size_t listed) {
  if (filter.empty() || listed == 0) return "";
  return " (--exclude/--include kept none of the " + std::to_string(listed) + ")";
}

}  // namespace sdxl::cli
