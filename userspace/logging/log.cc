#include "userspace/logging/log.h"

#include <cmath>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "userspace/core/absl_compat.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace loupe::log {
namespace {

std::shared_ptr<spdlog::logger> MakeLogger() {
  auto logger = spdlog::stdout_logger_mt("loupe");
  // The level and the message body are ours; spdlog adds the timestamp and does the locking.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ",%v})", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = MakeLogger();
  return *logger;
}

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace


Field::Field(std::string_view k, std::string_view value)
    : key(k), json("\"" + JsonEscape(value) + "\"") {}
Field::Field(std::string_view k, int64_t value) : key(k), json(absl::StrCat(value)) {}
Field::Field(std::string_view k, uint64_t value) : key(k), json(absl::StrCat(value)) {}
Field::Field(std::string_view k, double value)
    : key(k), json(std::isfinite(value) ? absl::StrFormat("%.6g", value) : "null") {}
Field::Field(std::string_view k, bool value) : key(k), json(value ? "true" : "false") {}

absl::Status SetLevel(std::string_view level) {
  if (level == "debug") {
    Logger().set_level(spdlog::level::debug);
  } else if (level == "info") {
    Logger().set_level(spdlog::level::info);
  } else if (level == "warn") {
    Logger().set_level(spdlog::level::warn);
  } else if (level == "error") {
    Logger().set_level(spdlog::level::err);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("log level '", AbslView(level), "' is not one of debug, info, warn, error"));
  }
  return absl::OkStatus();
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  spdlog::logger& logger = Logger();
  if (!logger.should_log(ToSpd(level))) return;
  std::string body = absl::StrCat("\"level\":\"", LevelName(level), "\",\"msg\":\"",
                                  JsonEscape(msg), "\"");
  for (const Field& f : fields) {
    absl::StrAppend(&body, ",\"", JsonEscape(f.key), "\":", f.json);
  }
  logger.log(ToSpd(level), "{}", body);
}

}  // namespace loupe::log
