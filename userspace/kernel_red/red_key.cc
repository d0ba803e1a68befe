#include "userspace/kernel_red/red_key.h"

#include <array>
#include <cstring>

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

std::optional<uint16_t> KernelResponseStatus(std::string_view r) {
  if (r.size() < 13 || r.substr(0, 7) != "HTTP/1." || (r[7] != '0' && r[7] != '1') ||
      r[8] != ' ') {
    return std::nullopt;
  }
  auto digit = [](char c, char low) { return c >= low && c <= '9' && (low != '2' || c <= '5'); };
  if (!digit(r[9], '2') || !digit(r[10], '0') || !digit(r[11], '0')) return std::nullopt;
  if (r[12] != ' ' && r[12] != '\r') return std::nullopt;
  return static_cast<uint16_t>((r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0'));
}

std::optional<loupe_red_key> KernelRedKeyFor(const loupe_event_header& h,
                                             std::string_view request, std::string_view response) {
  if (request.empty() || h.totals.req_bytes != request.size()) return std::nullopt;
  const std::optional<uint16_t> status = KernelResponseStatus(response);
  if (!status.has_value()) return std::nullopt;
  loupe_red_key key{};
  key.request_hash = KernelRequestHash(request);
  key.tgid = h.tgid;
  key.role = h.tuple.role;
  key.status = *status;
  if (h.tuple.role == LOUPE_ROLE_CLIENT) {
    std::memcpy(key.server_addr, h.tuple.remote_addr, sizeof(key.server_addr));
    key.server_port = h.tuple.remote_port;
  } else {
    key.server_port = h.tuple.local_port;
  }
  return key;
}

uint32_t KernelRedBucket(uint64_t duration_ns) {
  static constexpr std::array<uint64_t, LOUPE_RED_BUCKETS - 1> kBounds = LOUPE_RED_BOUNDS_NS;
  for (uint32_t i = 0; i < kBounds.size(); ++i) {
    if (duration_ns <= kBounds[i]) return i;
  }
  return LOUPE_RED_BUCKETS - 1;
}

}  // namespace loupe
