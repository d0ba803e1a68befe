#include "exporters/otlp/test_receiver/otlp_test_receiver.h"

#include "exporters/otlp/curl_transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

OtlpTestReceiver::TraceRequest OneSpanRequest() {
  OtlpTestReceiver::TraceRequest request;
  auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_name("x");
  span->set_trace_id(std::string(16, '\x01'));
  return request;
}

// Appends field 99 (varint 1) to the wire form of the first span: something the protos do not
// define, as a newer or a buggy sender would produce.
std::string WithUnknownFieldInSpan() {
  auto request = OneSpanRequest();
  auto* span = request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0);
  std::string span_bytes = span->SerializeAsString() + std::string("\x98\x06\x01", 3);
  span->Clear();
  span->ParseFromString(span_bytes);  // now carries the unknown field
  return request.SerializeAsString();
}

TEST(HasUnknownFieldsTest, FindsNestedUnknownFields) {
  auto clean = OneSpanRequest();
  EXPECT_FALSE(HasUnknownFields(clean));
  OtlpTestReceiver::TraceRequest dirty;
  ASSERT_TRUE(dirty.ParseFromString(WithUnknownFieldInSpan()));
  std::string where;
  EXPECT_TRUE(HasUnknownFields(dirty, &where));
  EXPECT_EQ(where, "resource_spans[0].scope_spans[0].spans[0]");
}

TEST(OtlpTestReceiverTest, AcceptsRejectsFailsAndRestarts) {
  auto receiver = OtlpTestReceiver::Start();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  auto transport = CurlTransport::Create();
  ASSERT_TRUE(transport.ok());
  std::string url = (*receiver)->endpoint() + "/v1/traces";
  HttpHeaders headers;

  auto ok = (*transport)->Post(url, OneSpanRequest().SerializeAsString(), headers,
                               absl::Seconds(2));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ((*receiver)->SpanCount(), 1u);

  auto unknown = (*transport)->Post(url, WithUnknownFieldInSpan(), headers, absl::Seconds(2));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400);
  ASSERT_THAT((*receiver)->Errors(), SizeIs(1));
  EXPECT_THAT((*receiver)->Errors()[0], HasSubstr("unknown fields"));

  (*receiver)->FailNext(503, 1, 7);
  auto failed = (*transport)->Post(url, OneSpanRequest().SerializeAsString(), headers,
                                   absl::Seconds(2));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, 503);
  EXPECT_EQ(failed->retry_after, absl::Seconds(7));
  EXPECT_EQ((*receiver)->SpanCount(), 1u);

  int port = (*receiver)->port();
  (*receiver)->Stop();
  auto refused = (*transport)->Post(url, "", headers, absl::Seconds(2));
  EXPECT_FALSE(refused.ok());
  ASSERT_TRUE((*receiver)->Restart().ok());
  EXPECT_EQ((*receiver)->port(), port);
  auto again = (*transport)->Post(url, OneSpanRequest().SerializeAsString(), headers,
                                  absl::Seconds(2));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ((*receiver)->SpanCount(), 2u);
  EXPECT_EQ((*receiver)->RequestCount(), 4);
}

TEST(CurlTransportTest, ParseRetryAfter) {
  EXPECT_EQ(ParseRetryAfter(" 12 \r\n"), absl::Seconds(12));
  EXPECT_EQ(ParseRetryAfter("0"), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
}

}  // namespace
}  // namespace loupe
