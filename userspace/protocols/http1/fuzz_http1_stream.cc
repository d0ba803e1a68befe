// Feeds arbitrary bytes to the HTTP/1 stream parser (the connection's bytes in stream mode are
// untrusted in both directions). The input is a script of steps: one control byte chooses the
// direction, data or gap (lost or truncated), and the length of the step; the next bytes are the
// data. Run as a server and as a client. Traps when an invariant of the parser contract breaks:
// records well formed, timestamps ordered, the request queue bounded.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "userspace/core/record.h"
#include "userspace/protocols/http1/http1_stream.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void CheckOutput(loupe::StreamOutput* out) {
  Check(out->records.size() == out->thread_ids.size());
  for (const auto& record : out->records) {
    Check(!record.span_name.empty());
    Check(record.start_ns <= record.end_ns);
  }
  out->records.clear();
  out->thread_ids.clear();
}

void Run(std::string_view input, loupe::Role role) {
  loupe::http1::Endpoints endpoints;
  endpoints.role = role;
  endpoints.server_address = "127.0.0.1";
  endpoints.server_port = 8080;
  endpoints.client_address = "127.0.0.2";
  endpoints.client_port = 40000;
  loupe::http1::Http1Stream stream(endpoints, /*tls=*/false);
  loupe::StreamOutput out;
  uint64_t ts = 1000;
  size_t pos = 0;
  while (pos < input.size()) {
    const auto control = static_cast<uint8_t>(input[pos++]);
    const auto direction = (control & 1) != 0 ? loupe::StreamDirection::kResponse
                                              : loupe::StreamDirection::kRequest;
    const size_t length = (control >> 3) + 1;  // 1..32 bytes a step
    ts += 1 + (control & 7);
    if ((control & 6) == 6) {
      // A gap: bytes moved but not copied (lost records when bit 3 is set).
      stream.OnGap(direction, length * 97, (control & 8) != 0, ts, &out);
    } else {
      const std::string_view bytes = input.substr(pos, length);
      pos += bytes.size();
      stream.OnData(direction, bytes, ts, /*tid=*/7, &out);
    }
    CheckOutput(&out);
    Check(stream.queued() <= loupe::http1::kMaxQueued + input.size());
  }
  stream.OnClose(&out);
  CheckOutput(&out);
  const loupe::StreamCounts counts = stream.TakeCounts();
  (void)counts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Run(input, loupe::Role::kServer);
  Run(input, loupe::Role::kClient);
  return 0;
}
