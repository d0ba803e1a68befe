// Credentials must never reach logs or exported attributes.
#pragma once

#include <string>
#include <string_view>

namespace loupe {

// "scheme://user:pass@host/path" -> "scheme://***@host/path"; anything else unchanged.
std::string RedactUrlCredentials(std::string_view text);

}  // namespace loupe
