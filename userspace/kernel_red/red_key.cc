#include "userspace/kernel_red/red_key.h"

#include <array>
#include <cstring>

#include "userspace/protocols/http1/kernel/http1_sniff.h"

namespace loupe {

uint64_t KernelRequestHash(std::string_view request) {
  const uint64_t len = request.size() < LOUPE_REQ_CAP - 1 ? request.size() : LOUPE_REQ_CAP - 1;
  uint64_t h = loupe_hash_init(len);
  for (uint64_t offset = 0; offset < len; offset += 8) {
    uint64_t word = 0;  // little-endian, zero-padded past the end, as the kernel masks it
    const uint64_t n = len - offset < 8 ? len - offset : 8;
    std::memcpy(&word, request.data() + offset, n);
    h = loupe_hash_step(h, word);
  }
  return loupe_hash_finish(h);
}

std::optional<uint16_t> KernelResponseStatus(std::string_view response) {
  // The kernel reads exactly these bytes.
  if (response.size() < LOUPE_HTTP1_STATUS_LINE_BYTES) return std::nullopt;
  const uint16_t status = loupe_http1_status(response.data());
  if (status == 0) return std::nullopt;
  return status;
}

std::optional<loupe_red_key> KernelRedKeyFor(const loupe_event_header& h,
                                             std::string_view request, std::string_view response) {
  if (request.empty() || h.totals.req_bytes != request.size()) return std::nullopt;
  const std::optional<uint16_t> status = KernelResponseStatus(response);
  if (!status.has_value()) return std::nullopt;
  loupe_red_key key{};
  loupe_red_key_fill(&key, &h.tuple, h.tgid, KernelRequestHash(request), *status);
  return key;
}

static_assert(sizeof(loupe_red_key) <= ExchangeKey::kMaxBytes);

ExchangeKey ToExchangeKey(const loupe_red_key& key) {
  ExchangeKey out;
  std::memcpy(out.bytes.data(), &key, sizeof(key));
  return out;
}

loupe_red_key FromExchangeKey(const ExchangeKey& key) {
  loupe_red_key out{};
  std::memcpy(&out, key.bytes.data(), sizeof(out));
  return out;
}

std::optional<ExchangeKey> KernelRedKeySource::KeyOf(const loupe_event_header& header,
                                                     std::string_view request,
                                                     std::string_view response) const {
  if ((header.flags & LOUPE_EVF_RED_CANDIDATE) == 0) return std::nullopt;
  const std::optional<loupe_red_key> key = KernelRedKeyFor(header, request, response);
  if (!key.has_value()) return std::nullopt;
  return ToExchangeKey(*key);
}

uint32_t KernelRedBucket(uint64_t duration_ns) {
  static constexpr std::array<uint64_t, LOUPE_RED_BUCKETS - 1> kBounds = LOUPE_RED_BOUNDS_NS;
  for (uint32_t i = 0; i < kBounds.size(); ++i) {
    if (duration_ns <= kBounds[i]) return i;
  }
  return LOUPE_RED_BUCKETS - 1;
}

}  // namespace loupe
