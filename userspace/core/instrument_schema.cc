#include "userspace/core/instrument_schema.h"

namespace loupe {
namespace {

constexpr double kOtelDurationBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                           0.5,   0.75, 1,     2.5,  5,     7.5, 10};

// Labels shared by several families.
constexpr LabelKey kHttpRequestMethod{"http.request.method", "http_request_method"};
constexpr LabelKey kHttpResponseStatusCode{"http.response.status_code",
                                           "http_response_status_code", true};
constexpr LabelKey kServerAddress{"server.address", "server_address"};
constexpr LabelKey kServerPort{"server.port", "server_port", true};
constexpr LabelKey kErrorType{kErrorTypeAttribute, "error_type"};

constexpr LabelKey kHttpServerLabels[] = {
    kHttpRequestMethod, kHttpResponseStatusCode, {"http.route", "http_route"}, kServerPort,
    kErrorType};
constexpr LabelKey kHttpClientLabels[] = {
    kHttpRequestMethod, kHttpResponseStatusCode, kServerAddress, kServerPort, kErrorType};
constexpr LabelKey kDbClientLabels[] = {
    {"db.system.name", "db_system_name"},
    {"db.operation.name", "db_operation_name"},
    {"db.collection.name", "db_collection_name"},
    kErrorType,
    kServerAddress,
    kServerPort};

}  // namespace

std::span<const double> OtelDurationBucketsSeconds() { return kOtelDurationBuckets; }

namespace instruments {

constinit const InstrumentSchema kHttpServer{
    .otel_name = "http.server.request.duration",
    .prometheus_name = "http_server_request_duration_seconds",
    .help = "Duration of HTTP server requests seen by Loupe",
    .unit = "s",
    .buckets = kOtelDurationBuckets,
    .span_kind = SpanKind::kServer,
    .short_name = "http_server",
    .labels = kHttpServerLabels,
};

constinit const InstrumentSchema kHttpClient{
    .otel_name = "http.client.request.duration",
    .prometheus_name = "http_client_request_duration_seconds",
    .help = "Duration of HTTP client requests seen by Loupe",
    .unit = "s",
    .buckets = kOtelDurationBuckets,
    .span_kind = SpanKind::kClient,
    .short_name = "http_client",
    .labels = kHttpClientLabels,
};

constinit const InstrumentSchema kDbClient{
    .otel_name = "db.client.operation.duration",
    .prometheus_name = "db_client_operation_duration_seconds",
    .help = "Duration of database client operations seen by Loupe",
    .unit = "s",
    .buckets = kOtelDurationBuckets,
    .span_kind = SpanKind::kClient,
    .short_name = "db_client",
    .labels = kDbClientLabels,
};

}  // namespace instruments

std::span<const InstrumentSchema* const> AllInstruments() {
  static constexpr const InstrumentSchema* kAll[] = {
      &instruments::kHttpServer, &instruments::kHttpClient, &instruments::kDbClient};
  return kAll;
}

const InstrumentSchema* FindInstrumentByPrometheusName(
    std::string_view prometheus_name, std::span<const InstrumentSchema* const> families) {
  for (const InstrumentSchema* family : families) {
    if (family->prometheus_name == prometheus_name) return family;
  }
  return nullptr;
}

const LabelKey* FindLabelByPrometheusName(const InstrumentSchema& family,
                                          std::string_view prometheus) {
  for (const LabelKey& label : family.labels) {
    if (label.prometheus == prometheus) return &label;
  }
  return nullptr;
}

}  // namespace loupe
