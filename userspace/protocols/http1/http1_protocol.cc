#include "userspace/protocols/http1/http1_protocol.h"

#include <string>
#include <string_view>

#include "userspace/protocols/http1/http1_message.h"
#include "userspace/protocols/http1/http1_record.h"
#include "userspace/protocols/http1/http1_stitcher.h"
#include "userspace/protocols/http1/http1_stream.h"

namespace loupe {
namespace {

using http1::HeadState;

constexpr std::string_view kResponseVersionPrefix = "HTTP/1.";

// What the request's first line says about the protocol.
Detection DetectRequest(std::string_view request) {
  const http1::RequestHead head = http1::ParseRequestHead(request);
  if (head.state == HeadState::kInvalid || head.method.empty()) return Detection::kNo;
  if (!http1::IsKnownMethod(head.method)) return Detection::kNo;
  // ParseRequestHead rejects a complete line without a version, so a known version means the
  // line is "METHOD target HTTP/1.x" (possibly cut just before its CRLF).
  if (head.version_minor >= 0) return Detection::kYes;
  return Detection::kMaybe;
}

class Http1Protocol final : public Protocol {
 public:
  std::string_view name() const override { return "http1"; }
  Detection Detect(const Exchange& first, const ConnectionInfo& conn) const override;
  std::unique_ptr<ConnectionParser> NewConnection(const ConnectionInfo& conn) const override;
  std::unique_ptr<StreamParser> NewStream(const ConnectionInfo& conn, bool tls) const override;
};

http1::Endpoints EndpointsOf(const ConnectionInfo& conn) {
  http1::Endpoints endpoints;
  endpoints.role = conn.role;
  endpoints.server_address = std::string(conn.server_address);
  endpoints.server_port = conn.server_port;
  endpoints.client_address = std::string(conn.client_address);
  endpoints.client_port = conn.client_port;
  endpoints.span_attributes = conn.span_attributes;
  return endpoints;
}

class Http1ConnectionParser final : public ConnectionParser {
 public:
  explicit Http1ConnectionParser(const ConnectionInfo& conn) : endpoints_(EndpointsOf(conn)) {}

  ParseState Parse(const Exchange& exchange, std::vector<Record>* out) override;


 private:
  http1::Endpoints endpoints_;
};

Detection Http1Protocol::Detect(const Exchange& first, const ConnectionInfo& conn) const {
  const Detection from_request =
      first.request.empty() ? Detection::kMaybe : DetectRequest(first.request);
  if (from_request == Detection::kNo && !first.request.empty()) return Detection::kNo;
  if (from_request == Detection::kYes) return Detection::kYes;
  if (first.response.substr(0, kResponseVersionPrefix.size()) == kResponseVersionPrefix) {
    return Detection::kYes;
  }
  return first.request.empty() ? Detection::kNo : from_request;
}

std::unique_ptr<ConnectionParser> Http1Protocol::NewConnection(const ConnectionInfo& conn) const {
  return std::make_unique<Http1ConnectionParser>(conn);
}

std::unique_ptr<StreamParser> Http1Protocol::NewStream(const ConnectionInfo& conn, bool tls) const {
  return std::make_unique<http1::Http1Stream>(EndpointsOf(conn), tls);
}

ParseState Http1ConnectionParser::Parse(const Exchange& exchange, std::vector<Record>* out) {
  const http1::Stitched stitched = http1::Stitch(exchange);
  using Verdict = http1::Stitched::Verdict;
  if (stitched.verdict == Verdict::kInvalid) return ParseState::kInvalid;
  if (stitched.verdict == Verdict::kIncomplete && !exchange.final) {
    return ParseState::kNeedsMoreData;
  }
  if (stitched.requests.empty()) return ParseState::kInvalid;  // final, request line never seen
  if (!stitched.requests.front().target_complete && stitched.requests.front().target.empty()) {
    return ParseState::kInvalid;  // cut right after the method: not even a path
  }

  http1::Endpoints endpoints = endpoints_;
  endpoints.role = exchange.role;
  size_t reported = 0;
  if (stitched.responses.empty()) {
    out->push_back(http1::BuildRecord(stitched.requests.front(), 0, exchange, endpoints));
    // The connection closed with no final response: the call failed.
    if (exchange.closed_with_totals) http1::MarkNoResponse(&out->back());
    reported = 1;
  } else {
    for (; reported < stitched.requests.size() && reported < stitched.responses.size();
         ++reported) {
      out->push_back(http1::BuildRecord(stitched.requests[reported],
                                        stitched.responses[reported].status, exchange, endpoints));
    }
    if (stitched.last_response_cut && reported == stitched.responses.size()) {
      http1::MarkResponseCut(&out->back());
    }
  }
  CountUnreported((stitched.requests.size() - reported) + stitched.uncounted_requests);
  return ParseState::kOk;
}

}  // namespace

std::unique_ptr<Protocol> MakeHttp1Protocol() { return std::make_unique<Http1Protocol>(); }

}  // namespace loupe
