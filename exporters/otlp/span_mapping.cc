#include "exporters/otlp/span_mapping.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "userspace/core/resource_attributes.h"

namespace loupe {

namespace otlp_common = opentelemetry::proto::common::v1;
namespace otlp_trace = opentelemetry::proto::trace::v1;
using KeyValues = google::protobuf::RepeatedPtrField<otlp_common::KeyValue>;

namespace {

void AddString(std::string_view key, std::string_view value, KeyValues* out) {
  otlp_common::KeyValue* kv = out->Add();
  kv->set_key(std::string(key));
  kv->mutable_value()->set_string_value(std::string(value));
}

void AddInt(std::string_view key, int64_t value, KeyValues* out) {
  otlp_common::KeyValue* kv = out->Add();
  kv->set_key(std::string(key));
  kv->mutable_value()->set_int_value(value);
}

bool IsRoot(const std::array<uint8_t, 8>& parent) {
  for (uint8_t b : parent) {
    if (b != 0) return false;
  }
  return true;
}

template <size_t N>
std::string Bytes(const std::array<uint8_t, N>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), N);
}

}  // namespace

std::string_view OtlpSdkVersion() { return LOUPE_OTLP_SDK_VERSION; }

namespace {

template <typename AttributeT>
void AddAnyAttribute(const AttributeT& attribute, KeyValues* out) {
  int64_t number = 0;
  if (attribute.is_int && absl::SimpleAtoi(attribute.value, &number)) {
    AddInt(attribute.key, number, out);
  } else {
    AddString(attribute.key, attribute.value, out);
  }
}

}  // namespace

void AddAttribute(const Attribute& attribute, KeyValues* out) { AddAnyAttribute(attribute, out); }
void AddAttribute(const SpanAttribute& attribute, KeyValues* out) {
  AddAnyAttribute(attribute, out);
}

void FillResource(const ProcessResource* resource,
                  opentelemetry::proto::resource::v1::Resource* out) {
  KeyValues* attrs = out->mutable_attributes();
  if (resource != nullptr) {
    if (!resource->service_name.empty()) AddString("service.name", resource->service_name, attrs);
    if (!resource->service_instance_id.empty()) {
      AddString("service.instance.id", resource->service_instance_id, attrs);
    }
    if (!resource->host_name.empty()) AddString("host.name", resource->host_name, attrs);
    if (resource->pid > 0) AddInt("process.pid", resource->pid, attrs);
    if (!resource->executable_name.empty()) {
      AddString("process.executable.name", resource->executable_name, attrs);
    }
    if (!resource->command_line.empty()) {
      AddString("process.command_line", resource->command_line, attrs);
    }
    for (const Attribute& identity : IdentityAttributes(*resource)) AddAttribute(identity, attrs);
  }
  AddString("telemetry.sdk.name", "loupe", attrs);
  AddString("telemetry.sdk.language", "cpp", attrs);
  AddString("telemetry.sdk.version", OtlpSdkVersion(), attrs);
  if (resource == nullptr) return;

  absl::flat_hash_set<std::string> seen;
  for (const otlp_common::KeyValue& kv : *attrs) seen.insert(kv.key());
  for (const Attribute& extra : resource->extra) {
    if (seen.insert(extra.key).second) AddAttribute(extra, attrs);
  }
}

void FillSpan(const Span& span, otlp_trace::Span* out) {
  out->set_trace_id(Bytes(span.trace_id));
  out->set_span_id(Bytes(span.span_id));
  if (!IsRoot(span.parent_span_id)) out->set_parent_span_id(Bytes(span.parent_span_id));
  out->set_flags(span.sampled ? 0x01 : 0x00);
  out->set_name(span.name);
  out->set_kind(span.kind == SpanKind::kClient ? otlp_trace::Span::SPAN_KIND_CLIENT
                                               : otlp_trace::Span::SPAN_KIND_SERVER);
  out->set_start_time_unix_nano(span.start_unix_ns);
  out->set_end_time_unix_nano(span.end_unix_ns);
  for (const SpanAttribute& attribute : span.attributes) {
    AddAttribute(attribute, out->mutable_attributes());
  }
  if (span.is_error) {
    out->mutable_status()->set_code(otlp_trace::Status::STATUS_CODE_ERROR);
    out->mutable_status()->set_message(span.status_message);
  }
}

opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest BuildTraceRequest(
    std::span<const Span> spans) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  absl::flat_hash_map<const ProcessResource*, otlp_trace::ScopeSpans*> by_resource;
  for (const Span& span : spans) {
    const ProcessResource* key = span.resource.get();
    auto [it, inserted] = by_resource.try_emplace(key, nullptr);
    if (inserted) {
      otlp_trace::ResourceSpans* resource_spans = request.add_resource_spans();
      FillResource(key, resource_spans->mutable_resource());
      it->second = resource_spans->add_scope_spans();
      it->second->mutable_scope()->set_name(std::string(kOtlpScopeName));
      it->second->mutable_scope()->set_version(std::string(OtlpSdkVersion()));
    }
    FillSpan(span, it->second->add_spans());
  }
  return request;
}

}  // namespace loupe
