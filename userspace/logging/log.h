// Structured JSON logs on stdout, one object per line:
//   {"ts":"2026-11-21T05:40:00.123Z","level":"info","msg":"probes attached","hook":"tp_btf"}
// Messages are fixed strings; variable data goes in fields so logs stay machine-readable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "userspace/core/json.h"

namespace loupe::log {

// One key with its value already rendered as JSON.
struct Field {
  Field(std::string_view key, std::string_view value);
  Field(std::string_view key, const char* value) : Field(key, std::string_view(value)) {}
  Field(std::string_view key, const std::string& value) : Field(key, std::string_view(value)) {}
  Field(std::string_view key, absl::string_view value)
      : Field(key, std::string_view(value.data(), value.size())) {}
  Field(std::string_view key, int64_t value);
  Field(std::string_view key, uint64_t value);
  Field(std::string_view key, int value) : Field(key, static_cast<int64_t>(value)) {}
  Field(std::string_view key, unsigned value) : Field(key, static_cast<uint64_t>(value)) {}
  Field(std::string_view key, double value);
  Field(std::string_view key, bool value);

  std::string key;
  std::string json;
};

enum class Level { kDebug, kInfo, kWarn, kError };

// Sets the minimum level; "debug", "info", "warn", "error".
absl::Status SetLevel(std::string_view level);
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kDebug, msg, fields);
}
inline void Info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, msg, fields);
}

// JSON string escaping (userspace/core/json.h), available here for log writers.
using ::loupe::JsonEscape;

}  // namespace loupe::log
