#include "userspace/slo/slo_command.h"

#include <curl/curl.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "userspace/slo/slo_rules.h"

namespace loupe {
namespace {

constexpr size_t kMaxMetricsBytes = 64u << 20;
constexpr long kFetchTimeoutSeconds = 10;
constexpr int kUsageError = 2;

constexpr absl::string_view kUsage =
    "usage: loupe slo [defaults] [--service NAME [options]]... [--from-metrics FILE|URL]\n"
    "\n"
    "Prints Prometheus recording and multi-window burn-rate alert rules for per-service SLOs.\n"
    "\n"
    "  --service NAME             add a service; the options that follow apply to it\n"
    "  --from-metrics FILE|URL    add every service found in a metrics page, e.g.\n"
    "                             http://127.0.0.1:9400/metrics (alias: --from)\n"
    "  --availability FRACTION    share of requests that must not be 5xx (default 0.999)\n"
    "  --latency FRACTION         share of requests that must be fast (default 0.99)\n"
    "  --latency-threshold SECS   what fast means; a bucket bound (default 0.5):\n"
    "                             0.005 0.01 0.025 0.05 0.075 0.1 0.25 0.5 0.75 1 2.5 5 7.5 10\n"
    "\n"
    "Options before the first --service are defaults for every service, including the ones\n"
    "found with --from-metrics. A service named explicitly overrides a discovered one.\n";

struct Objectives {
  double availability = 0.999;
  double latency = 0.99;
  double threshold = 0.5;
};

size_t AppendBounded(char* data, size_t size, size_t nmemb, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * nmemb;
  if (body->size() + n > kMaxMetricsBytes) return 0;  // makes curl fail with a write error
  body->append(data, n);
  return n;
}

absl::StatusOr<std::string> FetchUrl(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBounded);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, kFetchTimeoutSeconds);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrFormat(
        "fetching %s: %s", url, error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  return body;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrFormat("cannot open %s", path));
  std::string body;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    body.append(buf, static_cast<size_t>(in.gcount()));
    if (body.size() > kMaxMetricsBytes) {
      return absl::ResourceExhaustedError(absl::StrFormat("%s is larger than 64 MiB", path));
    }
  }
  return body;
}

// Reads the value of option `args[i]`, given as "--opt value" or "--opt=value".
std::optional<std::string> TakeValue(const std::vector<std::string>& args, size_t& i,
                                     absl::string_view name) {
  const std::string& arg = args[i];
  if (arg == name) {
    if (i + 1 >= args.size()) return std::nullopt;
    return args[++i];
  }
  return arg.substr(name.size() + 1);
}

bool Matches(const std::string& arg, absl::string_view name) {
  return arg == name || absl::StartsWith(arg, absl::StrCat(name, "="));
}

}  // namespace

absl::StatusOr<std::string> ReadMetricsSource(const std::string& file_or_url) {
  if (absl::StartsWith(file_or_url, "http://") || absl::StartsWith(file_or_url, "https://")) {
    return FetchUrl(file_or_url);
  }
  return ReadFile(file_or_url);
}

int RunSloCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Objectives defaults;
  std::vector<std::pair<std::string, Objectives>> explicit_services;
  std::vector<std::string> sources;

  auto fail = [&](const std::string& message) {
    err << "loupe slo: " << message << "\n";
    return kUsageError;
  };

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return 0;
    }
    absl::string_view option;
    for (absl::string_view known : {"--service", "--from-metrics", "--from", "--availability",
                                   "--latency-threshold", "--latency"}) {
      if (Matches(arg, known)) {
        option = known;
        break;
      }
    }
    if (option.empty()) return fail(absl::StrFormat("unknown argument '%s' (see --help)", arg));
    std::optional<std::string> value = TakeValue(args, i, option);
    if (!value.has_value()) return fail(absl::StrFormat("%s needs a value", option));

    if (option == "--service") {
      explicit_services.emplace_back(*value, defaults);
      continue;
    }
    if (option == "--from-metrics" || option == "--from") {
      sources.push_back(*value);
      continue;
    }
    double number = 0;
    if (!absl::SimpleAtod(*value, &number)) {
      return fail(absl::StrFormat("%s: '%s' is not a number", option, *value));
    }
    Objectives& target = explicit_services.empty() ? defaults : explicit_services.back().second;
    if (option == "--availability") {
      target.availability = number;
    } else if (option == "--latency") {
      target.latency = number;
    } else {
      target.threshold = number;
    }
  }

  std::vector<SloSpec> specs;
  for (const auto& [name, o] : explicit_services) {
    specs.push_back({name, o.availability, o.latency, o.threshold});
  }
  for (const std::string& source : sources) {
    absl::StatusOr<std::string> text = ReadMetricsSource(source);
    if (!text.ok()) return fail(std::string(text.status().message()));
    absl::StatusOr<std::vector<std::string>> found = ServicesFromMetricsText(*text);
    if (!found.ok()) return fail(absl::StrFormat("%s: %s", source, found.status().message()));
    if (found->empty()) {
      return fail(absl::StrFormat(
          "%s has no http_server_request_duration_seconds_count series with a service_name",
          source));
    }
    for (const std::string& name : *found) {
      bool known = false;
      for (const SloSpec& s : specs) known = known || s.service == name;
      if (known) continue;
      SloSpec spec{name, defaults.availability, defaults.latency, defaults.threshold};
      // A discovered name we cannot put in a rule is skipped, not fatal: the others still work.
      if (absl::Status s = ValidateSloSpec(spec); !s.ok()) {
        err << "loupe slo: skipping discovered service: " << s.message() << "\n";
        continue;
      }
      specs.push_back(std::move(spec));
    }
  }
  if (specs.empty()) {
    return fail("no services: give --service NAME or --from-metrics FILE|URL (see --help)");
  }
  absl::StatusOr<std::string> rules = GenerateSloRules(specs);
  if (!rules.ok()) return fail(std::string(rules.status().message()));
  out << *rules;
  return out.good() ? 0 : 1;
}

int RunSloCommand(const std::vector<std::string>& args) {
  return RunSloCommand(args, std::cout, std::cerr);
}

}  // namespace loupe
