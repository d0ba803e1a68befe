#include "userspace/logging/log.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
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

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The budget every Write draws on, the clock it reads, and what it suppressed.
struct Limiter {
  std::mutex mu;  // guards budget and clock (replaced by the test hook)
  std::unique_ptr<LineBudget> budget =
      std::make_unique<LineBudget>(kLogLinesPerSecond, kLogBurstLines);
  std::function<uint64_t()> clock;
  std::array<std::atomic<uint64_t>, 4> suppressed{};
  std::atomic<uint64_t> unreported{0};  // suppressed since the last line written
};

Limiter& TheLimiter() {
  static Limiter* limiter = new Limiter();  // never destroyed: threads may log during exit
  return *limiter;
}

// True if the line may be written; else counts it.
bool Admit(Level level) {
  Limiter& limiter = TheLimiter();
  if (level == Level::kError) return true;
  bool ok;
  {
    std::lock_guard<std::mutex> lock(limiter.mu);
    ok = limiter.budget->Take(limiter.clock ? limiter.clock() : MonotonicNs());
  }
  if (!ok) {
    limiter.suppressed[static_cast<size_t>(level)].fetch_add(1, std::memory_order_relaxed);
    limiter.unreported.fetch_add(1, std::memory_order_relaxed);
  }
  return ok;
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

LineBudget::LineBudget(double lines_per_second, double burst)
    : rate_per_ns_(lines_per_second / 1e9), burst_(burst), tokens_(burst) {}

bool LineBudget::Take(uint64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ && now_ns > last_ns_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ns - last_ns_) * rate_per_ns_);
  }
  if (!started_ || now_ns > last_ns_) last_ns_ = now_ns;
  started_ = true;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

uint64_t SuppressedLines(Level level) {
  return TheLimiter().suppressed[static_cast<size_t>(level)].load(std::memory_order_relaxed);
}

void SetLineBudgetForTest(double lines_per_second, double burst,
                          std::function<uint64_t()> clock) {
  Limiter& limiter = TheLimiter();
  std::lock_guard<std::mutex> lock(limiter.mu);
  limiter.budget = std::make_unique<LineBudget>(lines_per_second, burst);
  limiter.clock = std::move(clock);
  limiter.unreported.store(0);
}


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
  if (!Admit(level)) return;
  if (const uint64_t missed = TheLimiter().unreported.exchange(0); missed > 0) {
    logger.log(spdlog::level::warn, "{}",
               absl::StrCat(R"("level":"warn","msg":"log lines suppressed by the rate limit",)",
                            R"("suppressed":)", missed, R"(,"lines_per_second":)",
                            kLogLinesPerSecond));
  }
  std::string body = absl::StrCat("\"level\":\"", LevelName(level), "\",\"msg\":\"",
                                  JsonEscape(msg), "\"");
  for (const Field& f : fields) {
    absl::StrAppend(&body, ",\"", JsonEscape(f.key), "\":", f.json);
  }
  logger.log(ToSpd(level), "{}", body);
}

}  // namespace loupe::log
