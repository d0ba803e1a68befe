#include "userspace/core/redact.h"

namespace loupe {

std::string RedactUrlCredentials(std::string_view text) {
  const size_t scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::string(text);
  const size_t at = text.find('@', scheme + 3);
  const size_t slash = text.find('/', scheme + 3);
  // An '@' after the path starts belongs to the path, not to userinfo.
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
    return std::string(text);
  }
  return std::string(text.substr(0, scheme + 3)) + "***" + std::string(text.substr(at));
}

}  // namespace loupe
