// The Redis command names Loupe reports as db.operation.name. Command names are client-chosen
// text; only these become metric label values, anything else is reported as "_OTHER".
#pragma once

#include <span>
#include <string_view>

namespace loupe::redis {

inline constexpr std::string_view kOtherOperation = "_OTHER";

// True for a command of the Redis command reference (upper-cased name; for container commands
// such as CLIENT or CONFIG, the first word).
bool IsKnownCommand(std::string_view upper_name);

// The whole table, sorted.
std::span<const std::string_view> KnownCommands();

}  // namespace loupe::redis
