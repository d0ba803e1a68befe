#include "userspace/slo/slo_rules.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace loupe {
namespace {

constexpr absl::string_view kRunbookBase =
    "https://github.com/loupe-dev/loupe/blob/main/docs/runbooks/";
constexpr absl::string_view kHttpCount = "http_server_request_duration_seconds_count";
constexpr absl::string_view kHttpBucket = "http_server_request_duration_seconds_bucket";
constexpr size_t kMaxServiceNameLength = 128;
// A metrics page lists at most (services x budget) series; far fewer distinct services. The cap
// keeps a hostile or broken page from growing the result without bound.
constexpr size_t kMaxDiscoveredServices = 10000;

// One pair of windows of the SRE workbook's multi-window, multi-burn-rate alerts.
struct BurnWindowPair {
  absl::string_view factor;  // burn rate, as written into the expression
  absl::string_view long_window;
  absl::string_view short_window;
};

struct BurnAlert {
  absl::string_view severity;
  absl::string_view for_duration;
  BurnWindowPair first;
  BurnWindowPair second;
};

constexpr std::array<BurnAlert, 2> kBurnAlerts = {{
    {"page", "2m", {"14.4", "1h", "5m"}, {"6", "6h", "30m"}},
    {"ticket", "15m", {"3", "1d", "2h"}, {"1", "3d", "6h"}},
}};

// The two SLIs every service gets.
struct Sli {
  absl::string_view name;         // "availability" or "latency"
  absl::string_view record_base;  // recording rule name without the window suffix
  absl::string_view alert;
};

constexpr Sli kAvailability = {"availability", "service_name:loupe_slo_errors:ratio_rate",
                               "LoupeSloAvailabilityBurnRate"};
constexpr Sli kLatency = {"latency", "service_name:loupe_slo_latency_slow:ratio_rate",
                          "LoupeSloLatencyBurnRate"};

bool IsAllowedServiceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || c == '/';
}

std::string FormatNumber(double v) { return absl::StrFormat("%.10g", v); }

// YAML single-quoted scalar: the only escape is a doubled quote.
std::string YamlQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

// Prometheus 3 rewrites integral `le` values of classic histograms to "1.0" at ingestion; older
// servers keep what the exporter wrote ("1"). Match both for integral bounds.
std::string LeMatcher(double bound) {
  if (bound == std::floor(bound)) {
    return absl::StrFormat("le=~\"%s(\\\\.0)?\"", FormatNumber(bound));
  }
  return absl::StrFormat("le=\"%s\"", FormatNumber(bound));
}

// Indents every line of a multi-line PromQL expression for a YAML block scalar.
void AppendBlock(std::string& out, absl::string_view indent, absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    absl::StrAppend(&out, indent, line, "\n");
  }
}

std::string ErrorRatioExpr(const SloSpec& spec, absl::string_view window) {
  const std::string sel = absl::StrFormat("service_name=\"%s\"", spec.service);
  return absl::StrFormat(
      "(\n"
      "  sum by (service_name) (rate(%s{%s,http_response_status_code=~\"5..\"}[%s]))\n"
      "  or\n"
      "  0 * sum by (service_name) (rate(%s{%s}[%s]))\n"
      ")\n"
      "/\n"
      "sum by (service_name) (rate(%s{%s}[%s]))\n",
      kHttpCount, sel, window, kHttpCount, sel, window, kHttpCount, sel, window);
}

std::string SlowRatioExpr(const SloSpec& spec, absl::string_view window) {
  const std::string sel = absl::StrFormat("service_name=\"%s\"", spec.service);
  return absl::StrFormat(
      "1 - (\n"
      "  sum by (service_name) (rate(%s{%s,%s}[%s]))\n"
      "  /\n"
      "  sum by (service_name) (rate(%s{%s}[%s]))\n"
      ")\n",
      kHttpBucket, sel, LeMatcher(spec.latency_threshold_seconds), window, kHttpCount, sel,
      window);
}

std::string BurnExpr(const Sli& sli, const SloSpec& spec, double objective, const BurnAlert& a) {
  const std::string budget = absl::StrFormat("(1 - %s)", FormatNumber(objective));
  auto pair = [&](const BurnWindowPair& p) {
    return absl::StrFormat(
        "(\n"
        "  %s%s{service_name=\"%s\"} > (%s * %s)\n"
        "  and\n"
        "  %s%s{service_name=\"%s\"} > (%s * %s)\n"
        ")\n",
        sli.record_base, p.long_window, spec.service, p.factor, budget, sli.record_base,
        p.short_window, spec.service, p.factor, budget);
  };
  return absl::StrCat(pair(a.first), "or\n", pair(a.second));
}

void AppendServiceLabel(std::string& out, const SloSpec& spec) {
  absl::StrAppend(&out, "        labels:\n          service_name: ", YamlQuote(spec.service), "\n");
}

void AppendRecordingGroup(std::string& out, const SloSpec& spec) {
  absl::StrAppend(&out, "  - name: ", YamlQuote(absl::StrCat("loupe-slo-", spec.service, "-sli")),
                  "\n    rules:\n");
  for (const Sli* sli : {&kAvailability, &kLatency}) {
    for (absl::string_view window : kSloWindows) {
      absl::StrAppend(&out, "      - record: ", sli->record_base, window, "\n");
      absl::StrAppend(&out, "        expr: |\n");
      AppendBlock(out, "          ",
                  sli == &kAvailability ? ErrorRatioExpr(spec, window)
                                        : SlowRatioExpr(spec, window));
      // The expression already yields this label; stating it makes each service's rules
      // distinct to `promtool check rules`, which flags same-name rules with equal labels.
      AppendServiceLabel(out, spec);
    }
  }
}

void AppendAlert(std::string& out, const Sli& sli, const SloSpec& spec, const BurnAlert& a) {
  const bool availability = &sli == &kAvailability;
  const double objective =
      availability ? spec.availability_objective : spec.latency_objective;
  const std::string goal =
      availability
          ? absl::StrFormat("%s%% of requests succeed (not 5xx)", FormatNumber(objective * 100))
          : absl::StrFormat("%s%% of requests complete within %ss", FormatNumber(objective * 100),
                            FormatNumber(spec.latency_threshold_seconds));
  absl::StrAppend(&out, "      - alert: ", sli.alert, "\n        expr: |\n");
  AppendBlock(out, "          ", BurnExpr(sli, spec, objective, a));
  absl::StrAppend(&out, "        for: ", a.for_duration, "\n");
  absl::StrAppend(&out, "        labels:\n          severity: ", a.severity, "\n");
  absl::StrAppend(&out, "          service_name: ", YamlQuote(spec.service), "\n");
  absl::StrAppend(&out, "          slo: ", sli.name, "\n");
  absl::StrAppend(&out, "        annotations:\n");
  absl::StrAppend(
      &out, "          summary: ",
      YamlQuote(absl::StrFormat("%s is burning its %s error budget too fast (%s)", spec.service,
                                sli.name, a.severity)),
      "\n");
  absl::StrAppend(
      &out, "          description: ",
      YamlQuote(absl::StrFormat(
          "SLO: %s. Over the %s and %s windows (or %s and %s) the bad-request ratio of %s is "
          "above %sx or %sx the error budget; current ratio {{ $value | humanizePercentage }}.",
          goal, a.first.long_window, a.first.short_window, a.second.long_window,
          a.second.short_window, spec.service, a.first.factor, a.second.factor)),
      "\n");
  absl::StrAppend(&out, "          runbook_url: ", kRunbookBase, sli.alert, ".md\n");
}

void AppendAlertGroup(std::string& out, const SloSpec& spec) {
  absl::StrAppend(&out,
                  "  - name: ", YamlQuote(absl::StrCat("loupe-slo-", spec.service, "-alerts")),
                  "\n    rules:\n");
  for (const Sli* sli : {&kAvailability, &kLatency}) {
    for (const BurnAlert& alert : kBurnAlerts) AppendAlert(out, *sli, spec, alert);
  }
}

// Parses the label set starting just after '{'; calls on_label(name, unescaped value).
template <typename OnLabel>
absl::Status ParseLabels(absl::string_view s, OnLabel on_label) {
  size_t i = 0;
  auto is_name_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
  };
  while (true) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size()) return absl::InvalidArgumentError("unterminated label set");
    if (s[i] == '}') return absl::OkStatus();
    const size_t name_start = i;
    while (i < s.size() && is_name_char(s[i], i == name_start)) ++i;
    if (i == name_start) return absl::InvalidArgumentError("bad label name");
    const absl::string_view name = s.substr(name_start, i - name_start);
    if (i >= s.size() || s[i] != '=') return absl::InvalidArgumentError("expected '='");
    ++i;
    if (i >= s.size() || s[i] != '"') return absl::InvalidArgumentError("expected '\"'");
    ++i;
    std::string value;
    bool closed = false;
    while (i < s.size()) {
      const char c = s[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i >= s.size()) break;
      const char e = s[i++];
      if (e == 'n') {
        value += '\n';
      } else if (e == '\\' || e == '"') {
        value += e;
      } else {
        return absl::InvalidArgumentError("bad escape in label value");
      }
    }
    if (!closed) return absl::InvalidArgumentError("unterminated label value");
    on_label(name, std::move(value));
  }
}

}  // namespace

absl::Status ValidateSloSpec(const SloSpec& spec) {
  if (spec.service.empty() || spec.service.size() > kMaxServiceNameLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "service name must be 1 to %d characters, got %d", kMaxServiceNameLength,
        spec.service.size()));
  }
  for (char c : spec.service) {
    if (!IsAllowedServiceChar(c)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "service %s: name may only contain letters, digits and _ - . : /",
          YamlQuote(spec.service)));
    }
  }
  auto check_objective = [&](absl::string_view what, double v) -> absl::Status {
    // The negated form also rejects NaN.
    if (!(v > 0.0 && v < 1.0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "service %s: %s objective must be between 0 and 1 exclusive (e.g. 0.999), got %g",
          spec.service, what, v));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check_objective("availability", spec.availability_objective); !s.ok()) {
    return s;
  }
  if (absl::Status s = check_objective("latency", spec.latency_objective); !s.ok()) return s;
  const bool is_bound =
      std::find(kLatencyBucketBounds.begin(), kLatencyBucketBounds.end(),
                spec.latency_threshold_seconds) != kLatencyBucketBounds.end();
  if (!is_bound) {
    std::string bounds;
    for (double b : kLatencyBucketBounds) absl::StrAppend(&bounds, bounds.empty() ? "" : " ", b);
    return absl::InvalidArgumentError(absl::StrFormat(
        "service %s: latency threshold %g s is not a histogram bucket bound; use one of: %s",
        spec.service, spec.latency_threshold_seconds, bounds));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GenerateSloRules(const std::vector<SloSpec>& specs) {
  if (specs.empty()) return absl::InvalidArgumentError("no services to generate SLO rules for");
  std::set<absl::string_view> seen;
  for (const SloSpec& spec : specs) {
    if (absl::Status s = ValidateSloSpec(spec); !s.ok()) return s;
    if (!seen.insert(spec.service).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("service %s is given more than once", spec.service));
    }
  }
  std::string out =
      "# Generated by `loupe slo` (userspace/slo). Regenerate rather than edit by hand.\n"
      "# SLIs come from http_server_request_duration_seconds; alerts are the multi-window,\n"
      "# multi-burn-rate alerts of the Google SRE workbook.\n"
      "groups:\n";
  for (const SloSpec& spec : specs) {
    AppendRecordingGroup(out, spec);
    AppendAlertGroup(out, spec);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ServicesFromMetricsText(
    std::string_view prometheus_text) {
  // Debian's Abseil has its own string_view type, distinct from std::string_view.
  const absl::string_view text(prometheus_text.data(), prometheus_text.size());
  std::set<std::string> services;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, kHttpCount)) continue;
    // Only the exact metric name: the next character ends it.
    if (line.empty() || (line[0] != '{' && line[0] != ' ' && line[0] != '\t')) continue;
    if (line[0] != '{') continue;  // no labels, so no service
    line.remove_prefix(1);
    absl::Status status = ParseLabels(line, [&](absl::string_view name, std::string value) {
      if (name == "service_name" && !value.empty()) services.insert(std::move(value));
    });
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("metrics line %d: %s", line_number, status.message()));
    }
    if (services.size() > kMaxDiscoveredServices) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("more than %d distinct services in the metrics", kMaxDiscoveredServices));
    }
  }
  return std::vector<std::string>(services.begin(), services.end());
}

}  // namespace loupe
