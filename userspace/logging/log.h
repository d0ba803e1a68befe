// Structured JSON logs on stdout, one object per line:
//   {"ts":"2026-11-21T05:40:00.123Z","level":"info","msg":"probes attached","hook":"tp_btf"}
// Messages are fixed strings; variable data goes in fields so logs stay machine-readable.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
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

// A token bucket of log lines: refilled at `lines_per_second`, holding at most `burst`, so that no
// level (debug above all: libbpf's loader, per-file TLS detail) can write without bound. At 20
// lines a second after a burst of 5000 (the loader's debug output at start is about 2,100 lines),
// a day of the worst flood is about 1.7 M lines — tens of MB, not the hundreds of MB a minute an
// unbounded debug log reached. Thread-safe.
class LineBudget {
 public:
  LineBudget(double lines_per_second, double burst);
  // True if one more line may be written at `now_ns` (any monotonic clock; it must not go back).
  bool Take(uint64_t now_ns);

 private:
  std::mutex mu_;
  double rate_per_ns_;
  double burst_;
  double tokens_;
  uint64_t last_ns_ = 0;
  bool started_ = false;
};

inline constexpr double kLogLinesPerSecond = 20;
inline constexpr double kLogBurstLines = 5000;

// Sets the minimum level; "debug", "info", "warn", "error".
absl::Status SetLevel(std::string_view level);
// Writes one line unless the line budget is spent; then the line is counted as suppressed, and the
// next line written is preceded by a warning saying how many were. Error lines are never
// suppressed.
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields);

// Lines of `level` not written because the budget was spent, since the start
// (loupe_log_lines_suppressed_total).
uint64_t SuppressedLines(Level level);
const char* LevelName(Level level);

// Test hook: a new budget and the clock Write reads (CLOCK_MONOTONIC when null).
void SetLineBudgetForTest(double lines_per_second, double burst,
                          std::function<uint64_t()> clock);

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
