#include "exporters/otlp/span_mapping.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

namespace otlp_trace = opentelemetry::proto::trace::v1;
using KeyValues = google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>;

const opentelemetry::proto::common::v1::AnyValue* Find(const KeyValues& kvs,
                                                        std::string_view key) {
  const opentelemetry::proto::common::v1::AnyValue* found = nullptr;
  int count = 0;
  for (const auto& kv : kvs) {
    if (kv.key() == key) {
      found = &kv.value();
      ++count;
    }
  }
  EXPECT_LE(count, 1) << "duplicate key " << key;
  return found;
}

std::shared_ptr<ProcessResource> Resource(std::string service, int64_t pid) {
  auto resource = std::make_shared<ProcessResource>();
  resource->service_name = std::move(service);
  resource->service_instance_id = "host1:" + std::to_string(pid) + ":123";
  resource->host_name = "host1";
  resource->pid = pid;
  resource->executable_name = "nginx";
  resource->command_line = "nginx -g daemon off;";
  resource->extra = {{"deployment.environment", "prod", false}, {"service.name", "dup", false}};
  return resource;
}

Span MakeSpan(std::shared_ptr<ProcessResource> resource, uint8_t id) {
  Span span;
  for (size_t i = 0; i < 16; ++i) span.trace_id[i] = static_cast<uint8_t>(0xA0 + i);
  span.span_id = {1, 2, 3, 4, 5, 6, 7, id};
  span.name = "GET /users/{id}";
  span.start_unix_ns = 1'700'000'000'000'000'000ull;
  span.end_unix_ns = span.start_unix_ns + 1'500'000;
  span.attributes = {{"http.request.method", "GET", false},
                     {"http.response.status_code", "200", true},
                     {"server.port", "not-a-number", true}};
  span.resource = std::move(resource);
  return span;
}

TEST(SpanMappingTest, RootServerSpan) {
  Span span = MakeSpan(nullptr, 9);
  otlp_trace::Span out;
  FillSpan(span, &out);
  EXPECT_EQ(out.trace_id(), std::string(reinterpret_cast<const char*>(span.trace_id.data()), 16));
  EXPECT_EQ(out.span_id(), std::string("\x01\x02\x03\x04\x05\x06\x07\x09", 8));
  EXPECT_TRUE(out.parent_span_id().empty());
  EXPECT_EQ(out.flags(), 1u);
  EXPECT_EQ(out.kind(), otlp_trace::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(out.kind(), 2);
  EXPECT_EQ(out.name(), "GET /users/{id}");
  EXPECT_EQ(out.start_time_unix_nano(), span.start_unix_ns);
  EXPECT_EQ(out.end_time_unix_nano(), span.end_unix_ns);
  EXPECT_FALSE(out.has_status());
  EXPECT_EQ(out.status().code(), otlp_trace::Status::STATUS_CODE_UNSET);

  const auto* method = Find(out.attributes(), "http.request.method");
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->string_value(), "GET");
  const auto* status = Find(out.attributes(), "http.response.status_code");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->value_case(), opentelemetry::proto::common::v1::AnyValue::kIntValue);
  EXPECT_EQ(status->int_value(), 200);
  // An int attribute that does not parse is kept as a string rather than lost.
  const auto* port = Find(out.attributes(), "server.port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->string_value(), "not-a-number");
}

TEST(SpanMappingTest, ClientErrorChildUnsampled) {
  Span span = MakeSpan(nullptr, 1);
  span.kind = SpanKind::kClient;
  span.parent_span_id = {0, 0, 0, 0, 0, 0, 0, 0x42};
  span.sampled = false;
  span.is_error = true;
  span.status_message = "connection reset";
  otlp_trace::Span out;
  FillSpan(span, &out);
  EXPECT_EQ(out.kind(), 3);
  EXPECT_EQ(out.parent_span_id(), std::string("\0\0\0\0\0\0\0\x42", 8));
  EXPECT_EQ(out.flags(), 0u);
  EXPECT_EQ(out.status().code(), otlp_trace::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(out.status().code(), 2);
  EXPECT_EQ(out.status().message(), "connection reset");
}

TEST(SpanMappingTest, ResourceAttributes) {
  opentelemetry::proto::resource::v1::Resource out;
  auto resource = Resource("checkout", 4242);
  FillResource(resource.get(), &out);
  EXPECT_EQ(Find(out.attributes(), "service.name")->string_value(), "checkout");
  EXPECT_EQ(Find(out.attributes(), "service.instance.id")->string_value(), "host1:4242:123");
  EXPECT_EQ(Find(out.attributes(), "host.name")->string_value(), "host1");
  EXPECT_EQ(Find(out.attributes(), "process.pid")->int_value(), 4242);
  EXPECT_EQ(Find(out.attributes(), "process.executable.name")->string_value(), "nginx");
  EXPECT_EQ(Find(out.attributes(), "process.command_line")->string_value(),
            "nginx -g daemon off;");
  EXPECT_EQ(Find(out.attributes(), "telemetry.sdk.name")->string_value(), "loupe");
  EXPECT_EQ(Find(out.attributes(), "telemetry.sdk.language")->string_value(), "cpp");
  EXPECT_EQ(Find(out.attributes(), "telemetry.sdk.version")->string_value(), OtlpSdkVersion());
  EXPECT_FALSE(OtlpSdkVersion().empty());
  EXPECT_EQ(Find(out.attributes(), "deployment.environment")->string_value(), "prod");
}

TEST(SpanMappingTest, KubernetesIdentityOnTheResource) {
  auto identity = std::make_shared<KubernetesIdentity>();
  identity->namespace_name = "shop";
  identity->pod_name = "checkout-7d9f8b6c5-x2x4k";
  identity->pod_uid = "0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10";
  identity->container_name = "server";
  identity->node_name = "node-1";
  identity->workload = {"StatefulSet", "checkout"};
  auto resource = Resource("checkout", 4242);
  resource->service_namespace = "shop";
  resource->container_id = std::string(64, 'e');
  resource->kubernetes = identity;
  resource->extra.push_back({"k8s.pod.name", "from-the-environment", false});
  opentelemetry::proto::resource::v1::Resource out;
  FillResource(resource.get(), &out);
  EXPECT_EQ(Find(out.attributes(), "service.namespace")->string_value(), "shop");
  EXPECT_EQ(Find(out.attributes(), "container.id")->string_value(), std::string(64, 'e'));
  EXPECT_EQ(Find(out.attributes(), "k8s.namespace.name")->string_value(), "shop");
  EXPECT_EQ(Find(out.attributes(), "k8s.pod.name")->string_value(), "checkout-7d9f8b6c5-x2x4k")
      << "the watch's identity wins over an extra attribute of the same key";
  EXPECT_EQ(Find(out.attributes(), "k8s.pod.uid")->string_value(),
            "0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10");
  EXPECT_EQ(Find(out.attributes(), "k8s.container.name")->string_value(), "server");
  EXPECT_EQ(Find(out.attributes(), "k8s.node.name")->string_value(), "node-1");
  EXPECT_EQ(Find(out.attributes(), "k8s.statefulset.name")->string_value(), "checkout");
  EXPECT_EQ(Find(out.attributes(), "k8s.deployment.name"), nullptr);
}

TEST(SpanMappingTest, GroupsByResourceInOrderOfFirstAppearance) {
  auto a = Resource("a", 1);
  auto b = Resource("b", 2);
  std::vector<Span> spans = {MakeSpan(a, 1), MakeSpan(b, 2), MakeSpan(a, 3), MakeSpan(nullptr, 4)};
  auto request = BuildTraceRequest(spans);
  ASSERT_EQ(request.resource_spans_size(), 3);
  const auto& first = request.resource_spans(0);
  EXPECT_EQ(Find(first.resource().attributes(), "service.name")->string_value(), "a");
  ASSERT_EQ(first.scope_spans_size(), 1);
  EXPECT_EQ(first.scope_spans(0).scope().name(), "loupe");
  ASSERT_EQ(first.scope_spans(0).spans_size(), 2);
  EXPECT_EQ(first.scope_spans(0).spans(0).span_id().back(), 1);
  EXPECT_EQ(first.scope_spans(0).spans(1).span_id().back(), 3);
  EXPECT_EQ(Find(request.resource_spans(1).resource().attributes(), "service.name")
                ->string_value(),
            "b");
  EXPECT_EQ(Find(request.resource_spans(2).resource().attributes(), "service.name"), nullptr);
  EXPECT_EQ(request.resource_spans(2).scope_spans(0).spans_size(), 1);
}

}  // namespace
}  // namespace loupe
