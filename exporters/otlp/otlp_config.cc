#include "exporters/otlp/otlp_config.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "userspace/core/redact.h"

namespace loupe {
namespace {

std::optional<std::string> NonEmpty(const EnvLookup& getenv, std::string_view name) {
  std::optional<std::string> value = getenv(name);
  if (!value.has_value()) return std::nullopt;
  std::string trimmed(absl::StripAsciiWhitespace(*value));
  if (trimmed.empty()) return std::nullopt;
  return trimmed;
}

// Parses "k=v,k2=v2" (W3C baggage-like). `secret_values` keeps values out of error messages.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseKeyValueList(
    std::string_view var, absl::string_view text, bool secret_values) {
  std::vector<std::pair<std::string, std::string>> out;
  int index = 0;
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    ++index;
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;  // tolerate "a=1,,b=2" and a trailing comma
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: entry %d has no '=': expected comma-separated key=value pairs", var, index));
    }
    absl::string_view key = absl::StripAsciiWhitespace(entry.substr(0, eq));
    absl::string_view raw_value = absl::StripAsciiWhitespace(entry.substr(eq + 1));
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: entry %d has an empty key before '='", var, index));
    }
    std::optional<std::string> value = PercentDecode({raw_value.data(), raw_value.size()});
    if (!value.has_value()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the value of \"%s\" has a bad %%-escape (use %%XX with two hex digits)%s", var,
          key, secret_values ? "" : absl::StrFormat(": \"%s\"", raw_value)));
    }
    out.emplace_back(std::string(key), *std::move(value));
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

absl::Status CheckOtlpEndpoint(std::string_view what, std::string_view url_view) {
  const absl::string_view url(url_view.data(), url_view.size());
  const std::string shown = RedactUrlCredentials(url_view);
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s must be an http:// or https:// URL (e.g. http://localhost:4318), got \"%s\"", what,
        shown));
  }
  // The authority ends at the path, query or fragment; credentials before '@' are no host.
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  absl::string_view host = authority;
  std::optional<absl::string_view> port;
  if (absl::StartsWith(authority, "[")) {  // [IPv6]
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has an IPv6 host without its closing ']': \"%s\"", what, shown));
    }
    host = authority.substr(1, close - 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s has text after the IPv6 host that is not a :port: \"%s\"", what, shown));
      }
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.find(':'); colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has no host (e.g. http://localhost:4318): \"%s\"", what, shown));
  }
  for (char c : host) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has a space or control character in its host: \"%s\"", what, shown));
    }
  }
  if (port.has_value()) {
    int number = 0;
    const bool digits = !port->empty() && port->size() <= 5 &&
                        std::all_of(port->begin(), port->end(), [](char c) {
                          return absl::ascii_isdigit(static_cast<unsigned char>(c));
                        });
    if (!digits || !absl::SimpleAtoi(*port, &number) || number < 1 || number > 65535) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has port \"%s\": the port must be a number from 1 to 65535 (e.g. "
          "http://localhost:4318), in \"%s\"",
          what, *port, shown));
    }
  }
  return absl::OkStatus();
}

std::optional<std::string> ProcessEnvLookup(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

absl::StatusOr<OtlpConfig> OtlpConfigFromEnv(const EnvLookup& getenv) {
  OtlpConfig config;

  if (std::optional<std::string> base = NonEmpty(getenv, "OTEL_EXPORTER_OTLP_ENDPOINT")) {
    absl::Status status = CheckOtlpEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT", *base);
    if (!status.ok()) return status;
    absl::string_view trimmed = *base;
    while (absl::ConsumeSuffix(&trimmed, "/")) {
    }
    config.traces_endpoint = absl::StrCat(trimmed, "/v1/traces");
    config.metrics_endpoint = absl::StrCat(trimmed, "/v1/metrics");
  }
  const std::pair<const char*, std::string*> signal_endpoints[] = {
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &config.traces_endpoint},
      {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &config.metrics_endpoint},
  };
  for (auto [var, field] : signal_endpoints) {
    if (std::optional<std::string> url = NonEmpty(getenv, var)) {
      absl::Status status = CheckOtlpEndpoint(var, *url);
      if (!status.ok()) return status;
      *field = *url;
    }
  }

  if (std::optional<std::string> headers = NonEmpty(getenv, "OTEL_EXPORTER_OTLP_HEADERS")) {
    auto parsed = ParseKeyValueList("OTEL_EXPORTER_OTLP_HEADERS", *headers,
                                    /*secret_values=*/true);
    if (!parsed.ok()) return parsed.status();
    for (const auto& [key, value] : *parsed) {
      // A header name is a token; anything else would corrupt the request.
      for (char c : key) {
        if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
            c != '.') {
          return absl::InvalidArgumentError(absl::StrFormat(
              "OTEL_EXPORTER_OTLP_HEADERS: header name \"%s\" may only hold letters, digits, "
              "'-', '_' and '.'",
              key));
        }
      }
      if (value.find_first_of("\r\n") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "OTEL_EXPORTER_OTLP_HEADERS: the value of \"%s\" contains a line break", key));
      }
    }
    config.headers = *std::move(parsed);
  }

  if (std::optional<std::string> attrs = NonEmpty(getenv, "OTEL_RESOURCE_ATTRIBUTES")) {
    auto parsed = ParseKeyValueList("OTEL_RESOURCE_ATTRIBUTES", *attrs, /*secret_values=*/false);
    if (!parsed.ok()) return parsed.status();
    for (auto& [key, value] : *parsed) {
      config.resource_attributes.push_back(Attribute{std::move(key), std::move(value), false});
    }
  }

  if (std::optional<std::string> timeout = NonEmpty(getenv, "OTEL_EXPORTER_OTLP_TIMEOUT")) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(*timeout, &ms) || ms <= 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "OTEL_EXPORTER_OTLP_TIMEOUT must be a positive number of milliseconds (e.g. 10000), "
          "got \"%s\"",
          *timeout));
    }
    config.timeout = absl::Milliseconds(ms);
  }
  return config;
}

}  // namespace loupe
