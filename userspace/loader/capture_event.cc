#include "userspace/loader/capture_event.h"

namespace loupe {

std::optional<CaptureEvent> DecodeCaptureEvent(const void* data, size_t size) {
  if (data == nullptr || size < sizeof(loupe_event_header)) return std::nullopt;
  CaptureEvent event;
  event.header = static_cast<const loupe_event_header*>(data);
  switch (event.header->kind) {
    case LOUPE_EV_CLOSE: {
      // An unanswered request's prefix may follow the header; a response never does.
      const size_t req = event.header->req_len;
      if (req >= LOUPE_REQ_CAP || event.header->resp_len != 0 ||
          size < sizeof(loupe_event_header) + req) {
        return std::nullopt;
      }
      event.request = std::string_view(
          reinterpret_cast<const char*>(static_cast<const loupe_exchange_event*>(data)->data),
          req);
      return event;
    }
    case LOUPE_EV_EXCHANGE: {
      const size_t req = event.header->req_len;
      const size_t resp = event.header->resp_len;
      if (req >= LOUPE_REQ_CAP || resp >= LOUPE_RESP_CAP ||
          size < sizeof(loupe_event_header) + req + resp) {
        return std::nullopt;
      }
      const char* bytes =
          reinterpret_cast<const char*>(static_cast<const loupe_exchange_event*>(data)->data);
      event.request = std::string_view(bytes, req);
      event.response = std::string_view(bytes + req, resp);
      return event;
    }
    case LOUPE_EV_PREV_END:
      if (event.header->req_len != 0 || event.header->resp_len != 0) return std::nullopt;
      return event;
    default:
      return std::nullopt;
  }
}

}  // namespace loupe
