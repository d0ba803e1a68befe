// The key under which the kernel aggregates an HTTP/1 exchange (bpf/red_aggregate.bpf.h),
// computed here from a record's bytes exactly as the kernel computes it from the connection's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "bpf/shared/loupe_abi.h"
#include "userspace/core/exchange_key.h"
#include "userspace/core/record_stage.h"

namespace loupe {

// loupe_request_hash() of bpf/red_aggregate.bpf.h over `request`.
uint64_t KernelRequestHash(std::string_view request);

// The status of a response whose first bytes are "HTTP/1.0 " or "HTTP/1.1 ", a code 200..599
// and ' ' or CR, as the kernel checks them; nullopt otherwise.
std::optional<uint16_t> KernelResponseStatus(std::string_view response);

// The key of an EXCHANGE record the kernel flagged LOUPE_EVF_RED_CANDIDATE, or nullopt when
// its bytes do not qualify (the request was not captured whole, the status line differs).
std::optional<loupe_red_key> KernelRedKeyFor(const loupe_event_header& header,
                                             std::string_view request, std::string_view response);

// A loupe_red_key as the opaque key the tracker carries, and back.
ExchangeKey ToExchangeKey(const loupe_red_key& key);
loupe_red_key FromExchangeKey(const ExchangeKey& key);

// Gives the EXCHANGE records the kernel flagged LOUPE_EVF_RED_CANDIDATE their kernel key
// (KernelRedKeyFor), for the tracker to carry to the pipeline and KernelRedTable.
class KernelRedKeySource final : public ExchangeKeySource {
 public:
  std::optional<ExchangeKey> KeyOf(const loupe_event_header& header, std::string_view request,
                                   std::string_view response) const override;
};

// Index in the kernel's bucket array (LOUPE_RED_BOUNDS_NS, last = +Inf) of a duration.
uint32_t KernelRedBucket(uint64_t duration_ns);

}  // namespace loupe
