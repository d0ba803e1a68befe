// JSON string escaping shared by the JSON log lines and the JSON span printer.
#pragma once

#include <string>
#include <string_view>

namespace loupe {

// Escapes `s` for use inside a JSON string (without the quotes). Invalid UTF-8 becomes U+FFFD,
// so the output is always valid JSON whatever bytes a traced process sent.
std::string JsonEscape(std::string_view s);

}  // namespace loupe
