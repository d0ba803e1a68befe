// An aggregation key attached to one exchange by an ExchangeKeySource (core/record_stage.h):
// opaque bytes to everything but the stage that made it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace loupe {

struct ExchangeKey {
  static constexpr size_t kMaxBytes = 48;
  std::array<uint8_t, kMaxBytes> bytes{};
};

}  // namespace loupe
