#include "userspace/protocols/http1/http1_record.h"

#include <optional>
#include <string>

#include "userspace/core/trace_context.h"
#include "userspace/protocols/http1/route.h"

namespace loupe::http1 {
namespace {

// `key` is a semconv literal (SpanAttribute). Built in place: one per request, and a moved
// temporary costs as much as the vector's work.
template <typename Value>
void AddAttribute(Record* record, std::string_view key, Value&& value, bool is_int = false) {
  record->attributes.emplace_back(key, std::forward<Value>(value), is_int);
}

// The most attributes BuildRecord adds to one record; when no span is built, the most the
// metric labels read.
constexpr size_t kMaxHttpSpanAttributes = 13;
constexpr size_t kMaxHttpLabelAttributes = 4;

}  // namespace

std::string SanitizeValue(std::string_view value, size_t max_length) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() < max_length ? value.size() : max_length);
  for (char c : value) {
    const auto byte = static_cast<uint8_t>(c);
    const bool printable = byte >= 0x20 && byte < 0x7f;
    const size_t needed = printable ? 1 : 3;
    if (out.size() + needed > max_length) break;
    if (printable) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

std::string_view HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) return host.substr(1, close - 1);
    return host.substr(1);
  }
  const size_t colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

TargetPath SplitTarget(std::string_view target, bool target_complete) {
  TargetPath out;
  if (target == "*") {
    out.path = target;
    out.has_path = true;
    out.complete = target_complete;
    return out;
  }
  std::string_view rest = target;
  if (!rest.empty() && rest.front() != '/') {
    const size_t scheme_end = rest.find("://");
    if (scheme_end == std::string_view::npos) return out;  // authority-form: no path
    rest.remove_prefix(scheme_end + 3);
    const size_t path_start = rest.find_first_of("/?#");
    out.authority = rest.substr(0, path_start);
    if (path_start == std::string_view::npos) {
      out.path = "/";
      out.has_path = true;
      out.complete = target_complete;
      return out;
    }
    rest.remove_prefix(path_start);
  }
  const size_t path_end = FindQueryOrFragment(rest);
  out.path = rest.substr(0, path_end);
  out.has_path = true;
  out.complete = target_complete || path_end != std::string_view::npos;
  return out;
}

std::string RouteFor(const TargetPath& target) {
  if (!target.has_path) return "";
  if (target.path == "*") return "*";
  if (target.complete) return NormalizeRoute(target.path);
  // The last segment was cut: keep what precedes it and say that something followed.
  const size_t last_slash = target.path.rfind('/');
  const std::string_view known =
      last_slash == std::string_view::npos ? std::string_view() : target.path.substr(0, last_slash);
  std::string route = NormalizeRoute(known);
  if (route == "/") route.clear();
  const bool already_elided =
      route.size() >= kRouteElided.size() &&
      std::string_view(route).substr(route.size() - kRouteElided.size()) == kRouteElided;
  if (!already_elided) route.append(kRouteElided);
  return route;
}

namespace {

void MarkError(Record* record, std::string_view error_type) {
  record->is_error = true;
  record->error_type = std::string(error_type);
}

}  // namespace

void MarkResponseCut(Record* record) { MarkError(record, kResponseCutErrorType); }
void MarkNoResponse(Record* record) { MarkError(record, kNoResponseErrorType); }

Record BuildRecord(const RequestHead& request, int status, const Exchange& exchange,
                   const Endpoints& endpoints) {
  const bool server = exchange.role == Role::kServer;
  const std::string_view method = NormalizeMethod(request.method);
  const TargetPath target = SplitTarget(request.target, request.target_complete);
  std::string route = server ? RouteFor(target) : std::string();
  std::string status_text = status > 0 ? std::to_string(status) : std::string();
  std::string server_port = std::to_string(endpoints.server_port);

  // server.address: only client metrics and spans use it.
  std::string host;
  if (!server || endpoints.span_attributes) {
    std::string_view host_header = request.host;
    if (host_header.empty()) host_header = target.authority;
    host = SanitizeValue(host_header.empty() ? std::string_view(endpoints.server_address)
                                             : HostWithoutPort(host_header));
  }

  Record record;
  record.protocol = "http1";
  record.instrument = server ? &instruments::kHttpServer : &instruments::kHttpClient;
  record.start_ns = exchange.request_start_ns;
  record.end_ns = exchange.response_end_ns > exchange.request_start_ns
                      ? exchange.response_end_ns
                      : (exchange.request_end_ns > exchange.request_start_ns
                             ? exchange.request_end_ns
                             : exchange.request_start_ns);
  if (status > 0) {
    record.is_error = server ? status >= 500 : status >= 400;
    if (record.is_error) record.error_type = status_text;
  }

  // Each value once, in the order spans export them. Metrics only (no span is built): just the
  // attributes the family's labels read (method, status, route or server address, port).
  const bool spans = endpoints.span_attributes;
  if (spans) {
    // OTel: "{method} {http.route}" for servers, "{method}" for clients; "HTTP" for _OTHER.
    const std::string_view span_method = method == "_OTHER" ? std::string_view("HTTP") : method;
    record.span_name = std::string(span_method);
    if (!route.empty()) record.span_name.append(" ").append(route);
  }
  record.attributes.reserve(spans ? kMaxHttpSpanAttributes : kMaxHttpLabelAttributes);
  AddAttribute(&record, "http.request.method", std::string(method));
  if (spans && method == "_OTHER") {
    AddAttribute(&record, "http.request.method_original", SanitizeValue(request.method));
  }
  if (server && !route.empty()) AddAttribute(&record, "http.route", std::move(route));
  if (spans && target.has_path) AddAttribute(&record, "url.path", SanitizeValue(target.path));
  if (spans) AddAttribute(&record, "url.scheme", exchange.tls ? "https" : "http");  // tls: libssl
  if (status > 0) AddAttribute(&record, "http.response.status_code", std::move(status_text), true);
  if (!host.empty()) AddAttribute(&record, "server.address", std::move(host));
  if (!spans) {
    AddAttribute(&record, "server.port", std::move(server_port), true);
    return record;
  }
  AddAttribute(&record, "server.port", server_port, true);

  if (server) {
    if (!endpoints.client_address.empty()) {
      AddAttribute(&record, "client.address", endpoints.client_address);
      AddAttribute(&record, "network.peer.address", endpoints.client_address);
    }
    AddAttribute(&record, "network.peer.port", std::to_string(endpoints.client_port), true);
  } else {
    if (!endpoints.server_address.empty()) {
      AddAttribute(&record, "network.peer.address", endpoints.server_address);
    }
    AddAttribute(&record, "network.peer.port", server_port, true);
  }
  if (request.version_minor >= 0) {
    AddAttribute(&record, "network.protocol.version", request.version_minor == 1 ? "1.1" : "1.0");
  }
  if (!request.user_agent.empty()) {
    AddAttribute(&record, "user_agent.original", SanitizeValue(request.user_agent));
  }
  if (request.traceparent_count == 1) {
    record.incoming_context = TraceContext::ParseTraceparent(request.traceparent);
  }
  return record;
}

}  // namespace loupe::http1
