// Span → OTLP protobuf. Pure functions: no I/O, no clocks.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "userspace/core/span.h"

namespace loupe {

// The instrumentation scope name on everything Loupe exports.
inline constexpr std::string_view kOtlpScopeName = "loupe";

// The version reported as telemetry.sdk.version (the project version).
std::string_view OtlpSdkVersion();

// Appends key=value (int when `is_int` and the value parses as one).
void AddAttribute(const Attribute& attribute,
                  google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>*
                      out);
void AddAttribute(const SpanAttribute& attribute,
                  google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>*
                      out);

// service.name, service.instance.id, host.name, process.*, service.namespace, container.id and
// k8s.* (core/resource_attributes.h), telemetry.sdk.*, then `extra` keys not already present
// (attribute keys must be unique). `resource` may be null.
void FillResource(const ProcessResource* resource,
                  opentelemetry::proto::resource::v1::Resource* out);

void FillSpan(const Span& span, opentelemetry::proto::trace::v1::Span* out);

// One ResourceSpans per distinct ProcessResource (by pointer, in order of first appearance),
// each with one ScopeSpans named "loupe".
opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest BuildTraceRequest(
    std::span<const Span> spans);

}  // namespace loupe
