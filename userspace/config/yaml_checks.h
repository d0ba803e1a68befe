// Checks shared by the readers of the YAML config file (config.cc, selection_config.cc).
#pragma once

#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace loupe {

// yaml-cpp keeps every entry of a mapping, duplicates included, and a lookup would silently take
// one of them: a key given twice is refused, so that the value in effect is never a guess.
// `key` is the full dotted key; `seen` holds the keys already read in the same mapping.
inline absl::Status CheckNotDuplicate(const std::string& key, std::set<std::string>* seen) {
  if (!seen->insert(key).second) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "' is given more than once; keep one"));
  }
  return absl::OkStatus();
}

}  // namespace loupe
