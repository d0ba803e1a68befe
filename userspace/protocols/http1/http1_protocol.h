// HTTP/1.0 and HTTP/1.1 (RFC 9112) over plaintext TCP or decrypted TLS.
//
// Detection: kYes when the request prefix starts with an RFC 9110 method, a space, a target and
// " HTTP/1.0" / " HTTP/1.1" on a complete first line, or when the response starts with "HTTP/1."
// (and the request does not contradict it). kMaybe when the first line is cut but is so far a
// known method, a space and plausible target bytes. Everything else is kNo: methods are
// case-sensitive, so memcached's "get k\r\n" is kNo, and a complete line without an HTTP version
// (Redis inline "GET key\r\n") is kNo.
//
// Parsing one exchange (see ConnectionParser::Parse):
//   - While the exchange is not final, kOk only when the byte totals prove the response complete:
//     its end (head + Content-Length, head alone for HEAD/1xx/204/304, or the end of a chunked
//     body whose last chunk is inside the captured prefix) equals response_bytes, and there is a
//     response for every request seen. Otherwise kNeedsMoreData, appending nothing.
//   - When final: kOk with one record per request that has a final status in the response prefix.
//     If no final status was captured (the response prefix is empty or holds only 1xx), one
//     record is still reported for the first request, without a status. Bytes that are not
//     HTTP/1.x are kInvalid.
//   - Request prefix cut inside the headers: reported with what is known (Host or traceparent
//     may be missing). Cut inside the request target: reported with the route of the complete
//     segments followed by "/{...}" (url.path holds the part seen). Cut before the target
//     started (inside the method or right after it): kNeedsMoreData while not final, kInvalid
//     when final.
//   - Pipelining: every complete request in the request prefix (up to 16) is paired in order
//     with the final responses found in the response prefix (which is only the start of the
//     first response write). Requests left without a response, or cut inside their method, are
//     not reported and are counted in TakeUnreportedRequests(). All records of one exchange
//     share its timestamps, as the kernel times the exchange, not each request.
//   - "100 Continue" (any 1xx but 101) before the final response is skipped.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakeHttp1Protocol();

}  // namespace loupe
