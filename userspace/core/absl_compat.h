// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0),
// which does not convert from std::string_view. Our interfaces use std::string_view; this is
// the one bridge.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace loupe {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view StdView(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace loupe
