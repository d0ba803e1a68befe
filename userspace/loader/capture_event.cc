#include "userspace/loader/capture_event.h"

#include <cstddef>

namespace loupe {

static_assert(sizeof(loupe_chunk) == 40, "ABI: loupe_chunk layout changed");
static_assert(offsetof(loupe_chunk_event, chunk) == sizeof(loupe_event_header),
              "ABI: loupe_chunk_event.chunk must follow the header");
static_assert(sizeof(loupe_chunk_event) ==
                  sizeof(loupe_event_header) + sizeof(loupe_chunk) + LOUPE_CHUNK_CAP,
              "ABI: loupe_chunk_event must have no tail padding");

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
    case LOUPE_EV_CHUNK: {
      if (size < offsetof(loupe_chunk_event, data) || event.header->req_len != 0 ||
          event.header->resp_len != 0) {
        return std::nullopt;
      }
      const auto* chunk_event = static_cast<const loupe_chunk_event*>(data);
      const size_t len = chunk_event->chunk.len;
      if (len >= LOUPE_CHUNK_CAP || chunk_event->chunk.direction > LOUPE_CHUNK_RESPONSE ||
          size < offsetof(loupe_chunk_event, data) + len) {
        return std::nullopt;
      }
      event.chunk = &chunk_event->chunk;
      event.data = std::string_view(reinterpret_cast<const char*>(chunk_event->data), len);
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
