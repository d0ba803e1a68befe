#include "userspace/loader/capture_event.h"

namespace loupe {

std::optional<CaptureEvent> DecodeCaptureEvent(const void* data, size_t size) {
  if (data == nullptr || size < sizeof(loupe_event_header)) return std::nullopt;
  CaptureEvent event;
  event.header = static_cast<const loupe_event_header*>(data);
  switch (event.header->kind) {
    case LOUPE_EV_TAIL:
    case LOUPE_EV_CLOSE:
      return event;
    case LOUPE_EV_EXCHANGE: {
      if (size < sizeof(loupe_exchange_event)) return std::nullopt;
      const auto* exchange = static_cast<const loupe_exchange_event*>(data);
      if (event.header->req_len >= LOUPE_REQ_CAP || event.header->resp_len >= LOUPE_RESP_CAP) {
        return std::nullopt;
      }
      const char* bytes = reinterpret_cast<const char*>(exchange->data);
      event.request = std::string_view(bytes, event.header->req_len);
      event.response = std::string_view(bytes + LOUPE_REQ_CAP, event.header->resp_len);
      return event;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace loupe
