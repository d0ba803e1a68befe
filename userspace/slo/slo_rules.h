// Generates Prometheus recording and alerting rules for per-service SLOs over the metrics Loupe
// serves (docs/metrics.md), following the multi-window, multi-burn-rate alerts of the Google SRE
// workbook ("Alerting on SLOs"): page at 14.4x (1h and 5m) and 6x (6h and 30m), ticket at 3x
// (1d and 2h) and 1x (3d and 6h).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loupe {

struct SloSpec {
  std::string service;               // value of the service_name label
  double availability_objective;     // fraction of requests that must not be 5xx, in (0, 1)
  double latency_objective;          // fraction of requests that must be fast enough, in (0, 1)
  double latency_threshold_seconds;  // "fast enough"; must be a histogram bucket bound
};

// The histogram bucket bounds of http_server_request_duration_seconds. A latency SLI counts
// requests under a threshold from one bucket, so the threshold has to be one of these exactly.
inline constexpr std::array<double, 14> kLatencyBucketBounds = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};

// Rate windows the recording rules are computed over.
inline constexpr std::array<const char*, 7> kSloWindows = {"5m", "30m", "1h", "2h",
                                                           "6h", "1d",  "3d"};

// Returns InvalidArgument naming the service and the bad field.
absl::Status ValidateSloSpec(const SloSpec& spec);

// Returns one Prometheus rule file (YAML) with a recording-rule group and an alert group per
// service. Fails on an empty list, an invalid spec or a service named twice.
absl::StatusOr<std::string> GenerateSloRules(const std::vector<SloSpec>& specs);

// Distinct service_name label values of the http_server_request_duration_seconds_count samples
// in a Prometheus text exposition, sorted. Fails on a malformed label set of such a sample.
absl::StatusOr<std::vector<std::string>> ServicesFromMetricsText(std::string_view prometheus_text);

}  // namespace loupe
