#include "exporters/otlp/json_lines_span_sink.h"

#include <cstdio>

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(JsonQuoteTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonQuote(std::string_view("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(JsonQuote("caf\xC3\xA9 \xE2\x82\xAC"), "\"caf\xC3\xA9 \xE2\x82\xAC\"");
  // Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong encoding.
  EXPECT_EQ(JsonQuote("\x80"), "\"\\ufffd\"");
  EXPECT_EQ(JsonQuote("x\xE2\x82"), "\"x\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xC0\xAF"), "\"\\ufffd\\ufffd\"");
}

Span MakeSpan() {
  Span span;
  span.trace_id = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                   0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  span.span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  span.kind = SpanKind::kClient;
  span.name = "SELECT \"orders\"";
  span.start_unix_ns = 1000;
  span.end_unix_ns = 3500;
  span.is_error = true;
  span.status_message = "42P01";
  span.attributes = {{"db.system.name", "postgresql", false}, {"server.port", "5432", true}};
  auto resource = std::make_shared<ProcessResource>();
  resource->service_name = "api";
  span.resource = resource;
  return span;
}

TEST(JsonLinesSpanSinkTest, SpanToJson) {
  EXPECT_EQ(SpanToJson(MakeSpan()),
            "{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
            "\"parent_span_id\":\"\",\"name\":\"SELECT \\\"orders\\\"\",\"kind\":\"CLIENT\","
            "\"start_unix_ns\":1000,\"end_unix_ns\":3500,\"duration_ns\":2500,\"sampled\":true,"
            "\"status\":\"ERROR\",\"status_message\":\"42P01\",\"service_name\":\"api\","
            "\"resource\":{},"
            "\"attributes\":{\"db.system.name\":\"postgresql\",\"server.port\":5432}}");
}

TEST(JsonLinesSpanSinkTest, ResourceCarriesTheKubernetesIdentity) {
  Span span = MakeSpan();
  auto identity = std::make_shared<KubernetesIdentity>();
  identity->namespace_name = "shop";
  identity->pod_name = "api-0";
  identity->workload = {"StatefulSet", "api"};
  auto resource = std::make_shared<ProcessResource>(*span.resource);
  resource->service_namespace = "shop";
  resource->container_id = "c0ffee";
  resource->kubernetes = identity;
  span.resource = resource;
  const std::string json = SpanToJson(span);
  EXPECT_NE(json.find("\"resource\":{\"service.namespace\":\"shop\",\"container.id\":\"c0ffee\","
                      "\"k8s.namespace.name\":\"shop\",\"k8s.pod.name\":\"api-0\","
                      "\"k8s.statefulset.name\":\"api\"}"),
            std::string::npos)
      << json;
}

TEST(JsonLinesSpanSinkTest, WritesOneLinePerSpan) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  JsonLinesSpanSink sink(file);
  Span child = MakeSpan();
  child.parent_span_id = {0, 0, 0, 0, 0, 0, 0, 1};
  child.name = "multi\nline";
  sink.Consume(MakeSpan());
  sink.Consume(child);
  std::rewind(file);
  char buffer[4096];
  size_t n = std::fread(buffer, 1, sizeof(buffer), file);
  std::fclose(file);
  std::string text(buffer, n);
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  std::string second = text.substr(text.find('\n') + 1);
  EXPECT_NE(second.find("\"parent_span_id\":\"0000000000000001\""), std::string::npos);
  EXPECT_NE(second.find("\"name\":\"multi\\nline\""), std::string::npos);
}

}  // namespace
}  // namespace loupe
