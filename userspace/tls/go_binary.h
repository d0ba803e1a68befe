// Tells whether an executable was built by the Go toolchain. Go programs carry their own TLS
// stack (crypto/tls), linked statically, so libssl uprobes never see their plaintext.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace loupe {

// True when the ELF file has a .go.buildinfo section (Go 1.13+) or, failing section headers,
// starts that section's "\xff Go buildinf:" magic in its first megabytes.
absl::StatusOr<bool> IsGoBinary(const std::string& path);

}  // namespace loupe
