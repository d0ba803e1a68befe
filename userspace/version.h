#pragma once

namespace loupe {
inline constexpr char kLoupeVersion[] = "0.1.0";
}  // namespace loupe
