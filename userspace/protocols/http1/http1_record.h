// Builds the protocol-neutral Record for one HTTP/1.x request and its (optional) final status.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "userspace/core/exchange.h"
#include "userspace/core/record.h"
#include "userspace/protocols/http1/http1_message.h"

namespace loupe::http1 {

// Attribute values taken from the wire are cut to this many bytes.
inline constexpr size_t kMaxAttributeLength = 256;

// The connection facts a record needs, owned (ConnectionInfo only holds views).
struct Endpoints {
  Role role = Role::kServer;
  std::string server_address;
  uint16_t server_port = 0;
  std::string client_address;
  uint16_t client_port = 0;
  bool span_attributes = true;  // ConnectionInfo::span_attributes
};

// status 0 means the final status was not captured (only a 1xx, or no response, was seen); the
// record then has no status attribute, an empty status label and is not an error.
Record BuildRecord(const RequestHead& request, int status, const Exchange& exchange,
                   const Endpoints& endpoints);

// error.type of a response cut off by the connection closing (or its process exiting) before
// it reached its declared length. The status line arrived, the response did not.
inline constexpr std::string_view kResponseCutErrorType = "response_cut";

// error.type of a request whose connection closed (or whose process exited) before any final
// response arrived (core/exchange.h, shared with the database protocols).
inline constexpr std::string_view kNoResponseErrorType = ::loupe::kNoResponseErrorType;

// Marks a record whose response was cut off: an error whatever its status, with error.type
// kResponseCutErrorType in its span and its metric labels.
void MarkResponseCut(Record* record);
// Marks a record that never got a final response: an error with error.type kNoResponseErrorType.
void MarkNoResponse(Record* record);

// Splits a request target into the path the route is made from. Handles origin-form
// ("/a?b"), absolute-form ("http://h/a") and asterisk-form ("*"); authority-form (CONNECT) has
// no path. `complete` is false when the target was cut before the path ended.
struct TargetPath {
  std::string_view path;
  std::string_view authority;  // from absolute-form
  bool has_path = false;
  bool complete = false;
};
TargetPath SplitTarget(std::string_view target, bool target_complete);

// Route of a request target (SplitTarget) for metrics and span names; empty when it has no path.
std::string RouteFor(const TargetPath& target);

// The host part of a Host header / authority: no port, no IPv6 brackets.
std::string_view HostWithoutPort(std::string_view host);

// Makes untrusted bytes safe to export: bytes outside printable ASCII are percent-encoded and
// the result is cut to max_length bytes.
std::string SanitizeValue(std::string_view value, size_t max_length = kMaxAttributeLength);

}  // namespace loupe::http1
