// The daemon: wires capture, tracking, metrics, exporters and the admin endpoint, runs the event
// loop on the calling thread until a stop is requested, then shuts everything down in order.
#pragma once

#include <atomic>

#include "absl/status/status.h"
#include "userspace/config/config.h"

namespace loupe {

// Checks that can fail before anything is started: privileges, kernel BTF.
absl::Status CheckHostPrerequisites();

// Runs until *stop becomes true. Returns an error if start-up fails.
absl::Status RunAgent(const Config& config, const std::atomic<bool>* stop);

}  // namespace loupe
