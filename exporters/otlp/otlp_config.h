// Where and how the OTLP exporters send data, from the standard OTEL_* environment variables.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "userspace/core/record.h"

namespace loupe {

struct OtlpConfig {
  // Full URLs ("http://collector:4318/v1/traces"). Empty: that signal is not exported at all.
  std::string traces_endpoint;
  std::string metrics_endpoint;
  // Sent with every request. Values may hold API keys: never log them.
  std::vector<std::pair<std::string, std::string>> headers;
  // From OTEL_RESOURCE_ATTRIBUTES, values URL-decoded.
  std::vector<Attribute> resource_attributes;
  // Per HTTP request.
  absl::Duration timeout = absl::Seconds(10);

  bool traces_enabled() const { return !traces_endpoint.empty(); }
  bool metrics_enabled() const { return !metrics_endpoint.empty(); }
};

// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// Reads OTEL_EXPORTER_OTLP_ENDPOINT (base URL: /v1/traces and /v1/metrics are appended),
// OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT (used as-is), OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_RESOURCE_ATTRIBUTES (both "k=v,k2=v2" with URL-encoded values) and
// OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds). Empty variables count as unset. Malformed values
// give InvalidArgument naming the variable and what to fix (never echoing header values).
absl::StatusOr<OtlpConfig> OtlpConfigFromEnv(const EnvLookup& getenv);

// Checks an OTLP/HTTP endpoint URL before anything is started: the scheme is http or https, the
// host is not empty, and a port, when one is given, is a number from 1 to 65535. `what` names
// where the URL came from (a variable or setting); the message says what to fix and shows the
// URL with any credentials redacted.
absl::Status CheckOtlpEndpoint(std::string_view what, std::string_view url);

// The process environment, for production use with OtlpConfigFromEnv.
std::optional<std::string> ProcessEnvLookup(std::string_view name);

// Percent-decodes `in` ("%20" → " "). nullopt on a truncated or non-hex escape.
std::optional<std::string> PercentDecode(std::string_view in);

}  // namespace loupe
