#include "userspace/core/instrument_schema.h"

#include <algorithm>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "userspace/core/record.h"

namespace loupe {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// OTel → Prometheus: dots become underscores.
std::string Underscored(std::string_view otel) {
  std::string out(otel);
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

TEST(InstrumentSchemaTest, TheAgentExportsThreeFamilies) {
  EXPECT_THAT(AllInstruments(), ElementsAre(&instruments::kHttpServer, &instruments::kHttpClient,
                                            &instruments::kDbClient));
}

TEST(InstrumentSchemaTest, NamesFollowTheOtelToPrometheusRule) {
  for (const InstrumentSchema* family : AllInstruments()) {
    SCOPED_TRACE(family->otel_name);
    EXPECT_EQ(family->unit, "s");
    EXPECT_EQ(family->prometheus_name, Underscored(family->otel_name) + "_seconds");
    EXPECT_FALSE(family->help.empty());
    EXPECT_FALSE(family->short_name.empty());
  }
}

TEST(InstrumentSchemaTest, NamesAreUnique) {
  std::set<std::string_view> otel, prometheus, short_names;
  for (const InstrumentSchema* family : AllInstruments()) {
    EXPECT_TRUE(otel.insert(family->otel_name).second) << family->otel_name;
    EXPECT_TRUE(prometheus.insert(family->prometheus_name).second) << family->prometheus_name;
    EXPECT_TRUE(short_names.insert(family->short_name).second) << family->short_name;
  }
}

TEST(InstrumentSchemaTest, FamiliesAreFoundByPrometheusName) {
  for (const InstrumentSchema* family : AllInstruments()) {
    EXPECT_EQ(FindInstrumentByPrometheusName(family->prometheus_name), family);
  }
  EXPECT_EQ(FindInstrumentByPrometheusName("loupe_records_total"), nullptr);
}

TEST(InstrumentSchemaTest, EveryLabelMapsBothWays) {
  for (const InstrumentSchema* family : AllInstruments()) {
    std::set<std::string_view> attributes;
    for (const LabelKey& label : family->labels) {
      SCOPED_TRACE(std::string(family->otel_name) + " " + std::string(label.attribute));
      EXPECT_EQ(label.prometheus, Underscored(label.attribute));
      EXPECT_EQ(FindLabelByPrometheusName(*family, label.prometheus), &label);
      EXPECT_TRUE(attributes.insert(label.attribute).second) << "duplicate label";
      EXPECT_NE(label.prometheus, "service_name") << "service_name is every family's first label";
    }
  }
  EXPECT_EQ(FindLabelByPrometheusName(instruments::kHttpServer, "server_address"), nullptr);
}

TEST(InstrumentSchemaTest, LabelSchemaPerFamily) {
  const auto names = [](const InstrumentSchema& family) {
    std::vector<std::string_view> out;
    for (const LabelKey& label : family.labels) out.push_back(label.prometheus);
    return out;
  };
  EXPECT_THAT(names(instruments::kHttpServer),
              ElementsAre("http_request_method", "http_response_status_code", "http_route",
                          "server_port", "error_type"));
  EXPECT_THAT(names(instruments::kHttpClient),
              ElementsAre("http_request_method", "http_response_status_code", "server_address",
                          "server_port", "error_type"));
  EXPECT_THAT(names(instruments::kDbClient),
              ElementsAre("db_system_name", "db_operation_name", "db_collection_name",
                          "error_type", "server_address", "server_port"));
}

TEST(InstrumentSchemaTest, PortsAndStatusCodesAreInts) {
  for (const InstrumentSchema* family : AllInstruments()) {
    for (const LabelKey& label : family->labels) {
      EXPECT_EQ(label.is_int, label.attribute == "server.port" ||
                                  label.attribute == "http.response.status_code")
          << label.attribute;
    }
  }
}

TEST(InstrumentSchemaTest, SpanKinds) {
  EXPECT_EQ(instruments::kHttpServer.span_kind, SpanKind::kServer);
  EXPECT_EQ(instruments::kHttpClient.span_kind, SpanKind::kClient);
  EXPECT_EQ(instruments::kDbClient.span_kind, SpanKind::kClient);
  Record record;
  record.instrument = &instruments::kDbClient;
  EXPECT_EQ(record.span_kind(), SpanKind::kClient);
}

TEST(InstrumentSchemaTest, BucketsAreTheOtelDurationDefaults) {
  for (const InstrumentSchema* family : AllInstruments()) {
    EXPECT_THAT(family->buckets, ElementsAre(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
                                             0.75, 1, 2.5, 5, 7.5, 10));
  }
}

TEST(RecordLabelsTest, LabelsAreReadFromAttributesAndErrorType) {
  Record record;
  record.instrument = &instruments::kHttpClient;
  record.attributes = {{"http.request.method", "GET"},
                       {"url.path", "/x"},
                       {"server.address", "api"},
                       {"server.port", "443", true}};
  record.error_type = "no_response";
  EXPECT_THAT(MetricLabels(record),
              ElementsAre(Pair("http_request_method", "GET"), Pair("http_response_status_code", ""),
                          Pair("server_address", "api"), Pair("server_port", "443"),
                          Pair("error_type", "no_response")));
  EXPECT_EQ(MetricLabel(record, "server_address"), "api");
  EXPECT_EQ(MetricLabel(record, "http_route"), "");  // not a label of this family
  EXPECT_EQ(AttributeValue(record, "url.path"), "/x");
  EXPECT_EQ(AttributeValue(record, "error.type"), "no_response");
}

}  // namespace
}  // namespace loupe
