// The one place protocols are listed. Adding a protocol adds one line to registry.cc.
#pragma once

#include <memory>
#include <vector>

#include "userspace/protocols/protocol.h"

namespace loupe {

// All known protocols, in detection order (the first kYes wins; then the first kMaybe).
const std::vector<std::unique_ptr<Protocol>>& AllProtocols();

// The same, as the connection tracker takes them (it detects among the protocols it is given).
std::vector<const Protocol*> RegisteredProtocols();

}  // namespace loupe
