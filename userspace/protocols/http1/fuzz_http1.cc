// Feeds arbitrary bytes to the HTTP/1.x detector, parser, route normalizer and traceparent
// parser, as a request, as a response and split in two, with final false and true. Traps when an
// invariant of the parser contract breaks.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "userspace/core/trace_context.h"
#include "userspace/protocols/http1/http1_protocol.h"
#include "userspace/protocols/http1/route.h"

namespace {

constexpr std::string_view kRequest = "GET /fuzz HTTP/1.1\r\nHost: f\r\n\r\n";
constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void Run(const loupe::Protocol& protocol, std::string_view request, std::string_view response,
         loupe::Role role) {
  loupe::ConnectionInfo conn;
  conn.role = role;
  conn.server_address = "127.0.0.1";
  conn.server_port = 8080;
  conn.client_address = "127.0.0.2";
  conn.client_port = 40000;
  loupe::Exchange exchange;
  exchange.role = role;
  exchange.request = request;
  exchange.response = response;
  exchange.request_bytes = request.size();
  exchange.response_bytes = response.size();
  exchange.response_chunks = response.empty() ? 0 : 1;
  exchange.first_response_chunk_bytes = response.size();
  exchange.request_start_ns = 1;
  exchange.response_end_ns = 2;
  (void)protocol.Detect(exchange, conn);

  auto parser = protocol.NewConnection(conn);
  for (bool final : {false, true}) {
    exchange.final = final;
    std::vector<loupe::Record> records;
    const loupe::ParseState state = parser->Parse(exchange, &records);
    Check(state == loupe::ParseState::kOk || records.empty());
    Check(state != loupe::ParseState::kNeedsMoreData || !final);
    for (const auto& record : records) {
      Check(!record.span_name.empty());
      Check(record.start_ns <= record.end_ns);
    }
  }
  Check(parser->TakeUnreportedRequests() <= 64);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* protocol = loupe::MakeHttp1Protocol().release();
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Run(*protocol, input, kResponse, loupe::Role::kServer);
  Run(*protocol, kRequest, input, loupe::Role::kClient);
  const size_t half = size / 2;
  Run(*protocol, input.substr(0, half), input.substr(half), loupe::Role::kServer);

  const std::string route = loupe::http1::NormalizeRoute(input);
  Check(!route.empty() && route.front() == '/' && route.size() <= loupe::http1::kMaxRouteLength);

  const auto context = loupe::TraceContext::ParseTraceparent(input);
  if (context.has_value() && input.size() == 55) Check(context->ToTraceparent().size() == 55);
  return 0;
}
