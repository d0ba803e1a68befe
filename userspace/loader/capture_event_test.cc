#include "userspace/loader/capture_event.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loupe {
namespace {

// A ring-buffer record: 8-byte aligned, `size` bytes long, header followed by payload bytes.
struct Raw {
  std::vector<uint64_t> storage;
  size_t size = 0;
  loupe_event_header* header() { return reinterpret_cast<loupe_event_header*>(storage.data()); }
  char* payload() { return reinterpret_cast<char*>(storage.data()) + sizeof(loupe_event_header); }
};

Raw MakeRaw(uint32_t kind, size_t req_len, size_t resp_len, size_t payload_room) {
  Raw raw;
  raw.size = sizeof(loupe_event_header) + payload_room;
  raw.storage.assign((raw.size + 7) / 8 + 1, 0);
  raw.header()->kind = kind;
  raw.header()->conn_id = 77;
  raw.header()->req_len = static_cast<uint16_t>(req_len);
  raw.header()->resp_len = static_cast<uint16_t>(resp_len);
  for (size_t i = 0; i < payload_room; ++i) raw.payload()[i] = static_cast<char>('a' + i % 26);
  return raw;
}

TEST(CaptureEventTest, RejectsNullAndShortRecords) {
  EXPECT_FALSE(DecodeCaptureEvent(nullptr, 4096).has_value());
  Raw raw = MakeRaw(LOUPE_EV_CLOSE, 0, 0, 0);
  EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), 0).has_value());
  EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), sizeof(loupe_event_header) - 1).has_value());
  EXPECT_TRUE(DecodeCaptureEvent(raw.storage.data(), sizeof(loupe_event_header)).has_value());
}

TEST(CaptureEventTest, CloseCarriesTheHeaderAndAnUnansweredRequest) {
  Raw bare = MakeRaw(LOUPE_EV_CLOSE, 0, 0, 0);
  auto event = DecodeCaptureEvent(bare.storage.data(), bare.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->header, bare.header());
  EXPECT_EQ(event->header->conn_id, 77u);
  EXPECT_TRUE(event->request.empty());
  EXPECT_TRUE(event->response.empty());

  Raw with_request = MakeRaw(LOUPE_EV_CLOSE, 10, 0, 10);
  event = DecodeCaptureEvent(with_request.storage.data(), with_request.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->request, "abcdefghij");
  EXPECT_TRUE(event->response.empty());
}

TEST(CaptureEventTest, CloseWithAResponseOrAShortPayloadIsRejected) {
  Raw response = MakeRaw(LOUPE_EV_CLOSE, 0, 4, 4);
  EXPECT_FALSE(DecodeCaptureEvent(response.storage.data(), response.size).has_value());
  Raw short_payload = MakeRaw(LOUPE_EV_CLOSE, 10, 0, 9);
  EXPECT_FALSE(DecodeCaptureEvent(short_payload.storage.data(), short_payload.size).has_value());
  Raw over_cap = MakeRaw(LOUPE_EV_CLOSE, LOUPE_REQ_CAP, 0, LOUPE_REQ_CAP);
  EXPECT_FALSE(DecodeCaptureEvent(over_cap.storage.data(), over_cap.size).has_value());
}

TEST(CaptureEventTest, UnknownKindsAreRejected) {
  for (uint32_t kind : {0u, 2u, 5u, 0xffffffffu}) {
    Raw raw = MakeRaw(kind, 0, 0, 0);
    EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), raw.size).has_value()) << kind;
  }
}

TEST(CaptureEventTest, PrevEndIsAHeaderWithoutPayload) {
  Raw raw = MakeRaw(LOUPE_EV_PREV_END, 0, 0, 0);
  auto event = DecodeCaptureEvent(raw.storage.data(), raw.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_TRUE(event->request.empty());
  EXPECT_TRUE(event->response.empty());
  Raw with_bytes = MakeRaw(LOUPE_EV_PREV_END, 4, 0, 4);
  EXPECT_FALSE(DecodeCaptureEvent(with_bytes.storage.data(), with_bytes.size).has_value())
      << "a PREV_END never carries bytes";
}

TEST(CaptureEventTest, ExchangeSplitsRequestThenResponse) {
  Raw raw = MakeRaw(LOUPE_EV_EXCHANGE, 5, 3, 8);
  std::memcpy(raw.payload(), "hello", 5);
  std::memcpy(raw.payload() + 5, "bye", 3);
  auto event = DecodeCaptureEvent(raw.storage.data(), raw.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->request, "hello");
  EXPECT_EQ(event->response, "bye");
  EXPECT_EQ(event->request.data(), raw.payload()) << "views point into the record, no copy";
}

TEST(CaptureEventTest, ExchangeWithEmptyPayloads) {
  Raw raw = MakeRaw(LOUPE_EV_EXCHANGE, 0, 0, 0);
  auto event = DecodeCaptureEvent(raw.storage.data(), raw.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_TRUE(event->request.empty());
  EXPECT_TRUE(event->response.empty());

  Raw only_response = MakeRaw(LOUPE_EV_EXCHANGE, 0, 4, 4);
  event = DecodeCaptureEvent(only_response.storage.data(), only_response.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_TRUE(event->request.empty());
  EXPECT_EQ(event->response, "abcd");
}

TEST(CaptureEventTest, ExchangeAtTheCapsIsAccepted) {
  // The kernel keeps at most CAP - 1 bytes of each direction.
  constexpr size_t kReq = LOUPE_REQ_CAP - 1;
  constexpr size_t kResp = LOUPE_RESP_CAP - 1;
  Raw raw = MakeRaw(LOUPE_EV_EXCHANGE, kReq, kResp, kReq + kResp);
  auto event = DecodeCaptureEvent(raw.storage.data(), raw.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->request.size(), kReq);
  EXPECT_EQ(event->response.size(), kResp);
  EXPECT_EQ(event->response.data(), event->request.data() + kReq);
}

TEST(CaptureEventTest, LengthsAtOrBeyondTheCapsAreRejected) {
  Raw req = MakeRaw(LOUPE_EV_EXCHANGE, LOUPE_REQ_CAP, 0, LOUPE_REQ_CAP);
  EXPECT_FALSE(DecodeCaptureEvent(req.storage.data(), req.size).has_value());
  Raw resp = MakeRaw(LOUPE_EV_EXCHANGE, 0, LOUPE_RESP_CAP, LOUPE_RESP_CAP);
  EXPECT_FALSE(DecodeCaptureEvent(resp.storage.data(), resp.size).has_value());
  Raw huge = MakeRaw(LOUPE_EV_EXCHANGE, 0xffff, 0xffff, 0);
  EXPECT_FALSE(DecodeCaptureEvent(huge.storage.data(), huge.size).has_value());
}

TEST(CaptureEventTest, LengthsBeyondTheRecordAreRejected) {
  // Each length alone and together one byte past what the record holds.
  Raw req = MakeRaw(LOUPE_EV_EXCHANGE, 10, 0, 9);
  EXPECT_FALSE(DecodeCaptureEvent(req.storage.data(), req.size).has_value());
  Raw resp = MakeRaw(LOUPE_EV_EXCHANGE, 0, 10, 9);
  EXPECT_FALSE(DecodeCaptureEvent(resp.storage.data(), resp.size).has_value());
  Raw both = MakeRaw(LOUPE_EV_EXCHANGE, 6, 6, 11);
  EXPECT_FALSE(DecodeCaptureEvent(both.storage.data(), both.size).has_value());
  Raw exact = MakeRaw(LOUPE_EV_EXCHANGE, 6, 6, 12);
  EXPECT_TRUE(DecodeCaptureEvent(exact.storage.data(), exact.size).has_value());
  // A record longer than the payload it announces is fine (ring records are padded).
  Raw padded = MakeRaw(LOUPE_EV_EXCHANGE, 6, 6, 20);
  auto event = DecodeCaptureEvent(padded.storage.data(), padded.size);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->request.size(), 6u);
  EXPECT_EQ(event->response.size(), 6u);
}

TEST(CaptureEventTest, ChunkCarriesItsStreamPlaceAndBytes) {
  // header, loupe_chunk, then chunk.len bytes (the record is cut after them)
  Raw raw = MakeRaw(LOUPE_EV_CHUNK, 0, 0, sizeof(loupe_chunk) + 5);
  auto* chunk = reinterpret_cast<loupe_chunk*>(raw.payload());
  chunk->offset = 1000;
  chunk->len = 5;
  chunk->skipped = 17;
  chunk->direction = LOUPE_CHUNK_RESPONSE;
  std::memcpy(raw.payload() + sizeof(loupe_chunk), "HTTP/", 5);
  const auto event = DecodeCaptureEvent(raw.storage.data(), raw.size);
  ASSERT_TRUE(event.has_value());
  ASSERT_NE(event->chunk, nullptr);
  EXPECT_EQ(event->chunk->offset, 1000u);
  EXPECT_EQ(event->chunk->skipped, 17u);
  EXPECT_EQ(event->data, "HTTP/");
  EXPECT_TRUE(event->request.empty());
  // Shorter than its declared bytes, a bad direction, a length past the cap: malformed.
  EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), raw.size - 1).has_value());
  chunk->direction = 2;
  EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), raw.size).has_value());
  chunk->direction = LOUPE_CHUNK_REQUEST;
  chunk->len = LOUPE_CHUNK_CAP;
  EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), raw.size).has_value());
  // A header alone (a zero-length chunk must still carry its loupe_chunk) is malformed.
  EXPECT_FALSE(DecodeCaptureEvent(raw.storage.data(), sizeof(loupe_event_header)).has_value());
}

}  // namespace
}  // namespace loupe
