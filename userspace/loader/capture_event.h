// Validates a raw ring-buffer record and gives typed access to it. The kernel is trusted to
// write the layout, but sizes are still checked: a mismatch means a build skew, and is counted.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "bpf/shared/loupe_abi.h"

namespace loupe {

struct CaptureEvent {
  const loupe_event_header* header = nullptr;
  std::string_view request;   // EXCHANGE; CLOSE of a connection with an unanswered request
  std::string_view response;  // empty unless kind == LOUPE_EV_EXCHANGE
  const loupe_chunk* chunk = nullptr;  // LOUPE_EV_CHUNK: where `data` sits in its stream
  std::string_view data;               // LOUPE_EV_CHUNK: chunk->len bytes
};

std::optional<CaptureEvent> DecodeCaptureEvent(const void* data, size_t size);

}  // namespace loupe
