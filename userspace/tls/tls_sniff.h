// Recognises TLS by its record header, for connections whose plaintext no uprobe delivers
// (statically linked TLS stacks such as Go's crypto/tls): the conn tracker counts such
// connections and skips them, instead of feeding ciphertext to protocol detection.
#pragma once

#include <cstdint>
#include <string_view>

namespace loupe {

// True when `bytes` starts with a TLS record header: content type change_cipher_spec (20),
// alert (21), handshake (22) or application_data (23); legacy version 3.0 to 3.4; a length no
// larger than a record may be (2^14 plus the expansion RFC 8446 and RFC 5246 allow).
inline bool LooksLikeTlsRecord(std::string_view bytes) {
  if (bytes.size() < 5) return false;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  if (byte(0) < 20 || byte(0) > 23) return false;
  if (byte(1) != 3 || byte(2) > 4) return false;
  const uint32_t length = (uint32_t{byte(3)} << 8) | byte(4);
  return length > 0 && length <= (1u << 14) + 2048;
}

// Told by the conn tracker about connections carrying TLS, once per connection.
class TlsObserver {
 public:
  virtual ~TlsObserver() = default;
  // visible: the exchanges are plaintext from libssl uprobes; otherwise ciphertext only.
  virtual void OnTlsConnection(uint32_t tgid, std::string_view comm, bool visible) = 0;
};

}  // namespace loupe
