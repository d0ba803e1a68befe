// The span exporter against a real OTLP/HTTP receiver on loopback (curl transport), with the
// retry loop's waits faked so that nothing here sleeps for long.
#include "exporters/otlp/otlp_span_exporter.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

#include "exporters/otlp/test_receiver/otlp_test_receiver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Pair;

Span MakeSpan(uint32_t n, std::shared_ptr<const ProcessResource> resource = nullptr) {
  Span span;
  span.trace_id[0] = 0xAB;
  span.trace_id[15] = static_cast<uint8_t>(n);
  span.span_id[0] = 0x01;
  span.span_id[4] = static_cast<uint8_t>(n >> 24);
  span.span_id[5] = static_cast<uint8_t>(n >> 16);
  span.span_id[6] = static_cast<uint8_t>(n >> 8);
  span.span_id[7] = static_cast<uint8_t>(n);
  span.name = "GET /";
  span.start_unix_ns = 1'700'000'000'000'000'000ull + n;
  span.end_unix_ns = span.start_unix_ns + 1000;
  span.resource = std::move(resource);
  return span;
}

// The retry loop's view of time: waits are recorded and move the fake clock at once.
struct FakeRetryTime {
  std::mutex mu;
  FakeClock clock;
  std::vector<absl::Duration> sleeps;
  RetryWait wait() {
    return [this](absl::Duration d) {
      std::lock_guard<std::mutex> lock(mu);
      sleeps.push_back(d);
      clock.Advance(static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)));
      return true;
    };
  }
  std::vector<absl::Duration> Sleeps() {
    std::lock_guard<std::mutex> lock(mu);
    return sleeps;
  }
};

// The sum of the series of `name` with a label of value `label_value` (all when empty).
double Value(prometheus::Registry& registry, const std::string& name,
             const std::string& label_value = "") {
  bool found = false;
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = label_value.empty();
      for (const auto& label : metric.label) match |= label.value == label_value;
      if (!match) continue;
      found = true;
      sum += family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                          : metric.counter.value;
    }
  }
  if (!found) ADD_FAILURE() << "no metric " << name << " " << label_value;
  return sum;
}

class OtlpSpanExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto receiver = OtlpTestReceiver::Start();
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    config_.traces_endpoint = receiver_->endpoint() + "/v1/traces";
    config_.headers = {{"x-api-key", "s3cret"}};
    config_.timeout = absl::Seconds(2);
    options_.clock = &time_.clock;
    options_.retry_wait = time_.wait();
    options_.batch_timeout = absl::Milliseconds(50);
  }

  std::unique_ptr<OtlpSpanExporter> MakeExporter() {
    auto exporter = OtlpSpanExporter::Create(config_, registry_, options_);
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    return exporter.ok() ? *std::move(exporter) : nullptr;
  }

  std::unique_ptr<OtlpTestReceiver> receiver_;
  OtlpConfig config_;
  OtlpSpanExporterOptions options_;
  FakeRetryTime time_;
  prometheus::Registry registry_;
};

TEST_F(OtlpSpanExporterTest, NeedsAnEndpoint) {
  config_.traces_endpoint.clear();
  auto exporter = OtlpSpanExporter::Create(config_, registry_, options_);
  EXPECT_EQ(exporter.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OtlpSpanExporterTest, NeedsAClock) {
  options_.clock = nullptr;
  auto exporter = OtlpSpanExporter::Create(config_, registry_, options_);
  EXPECT_EQ(exporter.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OtlpSpanExporterTest, ExportsByBatchSize) {
  options_.max_batch_size = 10;
  options_.batch_timeout = absl::Seconds(30);  // only the size can trigger a send here
  auto exporter = MakeExporter();
  auto resource = std::make_shared<ProcessResource>();
  resource->service_name = "svc";
  for (uint32_t i = 0; i < 25; ++i) exporter->Consume(MakeSpan(i, resource));
  ASSERT_TRUE(receiver_->WaitForSpans(20, absl::Seconds(5)));
  // The 5 left over wait for the (long) timer: only two full batches went out.
  absl::SleepFor(absl::Milliseconds(100));
  auto requests = receiver_->TraceRequests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& request : requests) {
    ASSERT_EQ(request.resource_spans_size(), 1);
    EXPECT_EQ(request.resource_spans(0).scope_spans(0).spans_size(), 10);
  }
  EXPECT_EQ(exporter->queue_size(), 5u);
  EXPECT_THAT(receiver_->LastHeaders(), Contains(Pair("x-api-key", "s3cret")));
  EXPECT_THAT(receiver_->LastHeaders(), Contains(Pair("content-type", "application/x-protobuf")));

  exporter->Shutdown(absl::Seconds(5));  // flushes the rest
  EXPECT_EQ(receiver_->SpanCount(), 25u);
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 25);
  EXPECT_EQ(Value(registry_, "loupe_spans_dropped_total", "shutdown"), 0);
  EXPECT_EQ(Value(registry_, "loupe_otlp_queue_spans"), 0);
  EXPECT_THAT(receiver_->Errors(), IsEmpty());

  // Spans arrive in order and intact.
  auto spans = receiver_->Spans();
  ASSERT_EQ(spans.size(), 25u);
  for (uint32_t i = 0; i < 25; ++i) {
    EXPECT_EQ(static_cast<uint8_t>(spans[i].span_id()[7]), i);
  }
}

TEST_F(OtlpSpanExporterTest, ExportsPartialBatchAfterTimeout) {
  options_.max_batch_size = 100;
  options_.batch_timeout = absl::Milliseconds(100);
  auto exporter = MakeExporter();
  absl::Time start = absl::Now();
  exporter->Consume(MakeSpan(1));
  exporter->Consume(MakeSpan(2));
  ASSERT_TRUE(receiver_->WaitForSpans(2, absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(receiver_->TraceRequests().size(), 1u);
}

TEST_F(OtlpSpanExporterTest, RetriesOn503HonouringRetryAfterThenSucceeds) {
  receiver_->FailNext(503, /*count=*/2, /*retry_after_seconds=*/3);
  auto exporter = MakeExporter();
  exporter->Consume(MakeSpan(1));
  ASSERT_TRUE(receiver_->WaitForSpans(1, absl::Seconds(5)));
  EXPECT_EQ(receiver_->RequestCount(), 3);
  EXPECT_THAT(time_.Sleeps(), ::testing::ElementsAre(absl::Seconds(3), absl::Seconds(3)));
  exporter->Shutdown(absl::Seconds(2));
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 1);
  EXPECT_EQ(Value(registry_, "loupe_otlp_export_failures_total", "traces"), 2);
  EXPECT_EQ(Value(registry_, "loupe_spans_dropped_total", "export_failed"), 0);
}

TEST_F(OtlpSpanExporterTest, PermanentErrorDropsAndCounts) {
  receiver_->FailNext(400, /*count=*/1);
  options_.max_batch_size = 3;
  auto exporter = MakeExporter();
  for (uint32_t i = 0; i < 3; ++i) exporter->Consume(MakeSpan(i));
  ASSERT_TRUE(receiver_->WaitForRequests(1, absl::Seconds(5)));
  exporter->Consume(MakeSpan(10));
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(receiver_->RequestCount(), 2);  // the 400 was not retried
  EXPECT_TRUE(time_.Sleeps().empty());
  EXPECT_EQ(Value(registry_, "loupe_spans_dropped_total", "export_failed"), 3);
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 1);
  EXPECT_EQ(Value(registry_, "loupe_otlp_export_failures_total", "traces"), 1);
}

TEST_F(OtlpSpanExporterTest, PartialSuccessCountsRejectedSpans) {
  receiver_->SetRejectedSpans(2);
  options_.max_batch_size = 5;
  auto exporter = MakeExporter();
  for (uint32_t i = 0; i < 5; ++i) exporter->Consume(MakeSpan(i));
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 3);
  EXPECT_EQ(Value(registry_, "loupe_spans_dropped_total", "export_failed"), 2);
}

// Every exporter failure is logged through the project's logger: one JSON object per line on
// stdout, the endpoint with its credentials masked, no header value.
TEST_F(OtlpSpanExporterTest, FailuresLogJsonLinesWithoutSecrets) {
  const std::string endpoint = receiver_->endpoint();  // http://127.0.0.1:port
  config_.traces_endpoint = "http://loupe:hunter2@" + endpoint.substr(7) + "/v1/traces";
  receiver_->FailNext(400, /*count=*/1);
  receiver_->SetRejectedSpans(1);
  options_.max_batch_size = 2;
  auto exporter = MakeExporter();
  testing::internal::CaptureStdout();
  for (uint32_t i = 0; i < 2; ++i) exporter->Consume(MakeSpan(i));  // refused with 400
  ASSERT_TRUE(receiver_->WaitForRequests(1, absl::Seconds(5)));
  for (uint32_t i = 2; i < 4; ++i) exporter->Consume(MakeSpan(i));  // one span rejected
  exporter->Shutdown(absl::Seconds(5));
  const std::string logged = testing::internal::GetCapturedStdout();

  std::vector<std::string> lines = absl::StrSplit(logged, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << logged;
  for (const std::string& line : lines) {
    EXPECT_THAT(line, ::testing::StartsWith("{\"ts\":\"")) << line;
    EXPECT_THAT(line, ::testing::EndsWith("}")) << line;
  }
  EXPECT_THAT(lines[0], ::testing::HasSubstr("\"level\":\"warn\""));
  EXPECT_THAT(lines[0], ::testing::HasSubstr("\"msg\":\"OTLP export rejected; not retrying\""));
  EXPECT_THAT(lines[0], ::testing::HasSubstr("\"endpoint\":\"http://***@" + endpoint.substr(7) +
                                             "/v1/traces\""));
  EXPECT_THAT(lines[1], ::testing::HasSubstr("\"msg\":\"OTLP endpoint rejected spans\""));
  EXPECT_THAT(logged, ::testing::Not(::testing::HasSubstr("hunter2")));
  EXPECT_THAT(logged, ::testing::Not(::testing::HasSubstr("s3cret")));
}

// A transport that blocks until released, so the queue can be filled deterministically.
class GatedTransport : public HttpTransport {
 public:
  absl::StatusOr<HttpResponse> Post(const std::string&, std::string_view, const HttpHeaders&,
                                    absl::Duration) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return HttpResponse{200, "", std::nullopt};
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitForCall() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_ > 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int calls_ = 0;
};

TEST_F(OtlpSpanExporterTest, FullQueueDropsAndCountsWithoutBlocking) {
  options_.queue_capacity = 8;
  options_.max_batch_size = 4;
  auto transport = std::make_unique<GatedTransport>();
  GatedTransport* gate = transport.get();
  auto created = OtlpSpanExporter::Create(config_, registry_, options_, std::move(transport));
  ASSERT_TRUE(created.ok());
  auto exporter = *std::move(created);

  for (uint32_t i = 0; i < 4; ++i) exporter->Consume(MakeSpan(i));
  gate->WaitForCall();  // those 4 are in flight, stuck in the transport
  absl::Time start = absl::Now();
  for (uint32_t i = 0; i < 20; ++i) exporter->Consume(MakeSpan(100 + i));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));  // Consume never waited
  EXPECT_EQ(exporter->queue_size(), 8u);
  EXPECT_EQ(exporter->max_queue_size_seen(), 8u);
  EXPECT_EQ(Value(registry_, "loupe_spans_dropped_total", "queue_full"), 12);
  EXPECT_EQ(Value(registry_, "loupe_otlp_queue_spans"), 8);
  gate->Open();
  exporter->Shutdown(absl::Seconds(5));
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 12);
}

TEST_F(OtlpSpanExporterTest, CollectorDownThenBack) {
  options_.queue_capacity = 50;
  options_.max_batch_size = 10;
  options_.retry.max_attempts = 3;
  auto exporter = MakeExporter();
  receiver_->Stop();

  for (uint32_t i = 0; i < 500; ++i) {
    exporter->Consume(MakeSpan(i));
    if (i % 50 == 0) absl::SleepFor(absl::Milliseconds(5));
  }
  // Let the worker chew through what it can while the collector is down.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_LE(exporter->max_queue_size_seen(), 50u);
  double failed = Value(registry_, "loupe_spans_dropped_total", "export_failed");
  double full = Value(registry_, "loupe_spans_dropped_total", "queue_full");
  EXPECT_GT(failed, 0);
  EXPECT_GT(Value(registry_, "loupe_otlp_export_failures_total", "traces"), 0);
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 0);
  // Every span is dropped, queued, or in the one batch in flight.
  EXPECT_GE(failed + full + static_cast<double>(exporter->queue_size()) + 10, 500);

  ASSERT_TRUE(receiver_->Restart().ok());
  for (uint32_t i = 1000; i < 1005; ++i) exporter->Consume(MakeSpan(i));
  ASSERT_TRUE(receiver_->WaitForSpans(5, absl::Seconds(5)));
  exporter->Shutdown(absl::Seconds(5));
  auto spans = receiver_->Spans();
  int fresh = 0;
  for (const auto& span : spans) {
    uint32_t n = (static_cast<uint8_t>(span.span_id()[6]) << 8) |
                 static_cast<uint8_t>(span.span_id()[7]);
    fresh += n >= 1000 && n < 1005;
  }
  EXPECT_EQ(fresh, 5);
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), static_cast<double>(spans.size()));
  // After shutdown every consumed span is accounted for exactly once.
  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total") +
                Value(registry_, "loupe_spans_dropped_total", "queue_full") +
                Value(registry_, "loupe_spans_dropped_total", "export_failed") +
                Value(registry_, "loupe_spans_dropped_total", "shutdown"),
            505);
}

// A collector that accepts connections and never answers: each request lasts its timeout.
class HangingTransport : public HttpTransport {
 public:
  absl::StatusOr<HttpResponse> Post(const std::string&, std::string_view, const HttpHeaders&,
                                    absl::Duration timeout) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      timeouts_.push_back(timeout);
    }
    absl::SleepFor(timeout);
    return absl::DeadlineExceededError("timed out");
  }
  std::vector<absl::Duration> timeouts() {
    std::lock_guard<std::mutex> lock(mu_);
    return timeouts_;
  }

 private:
  std::mutex mu_;
  std::vector<absl::Duration> timeouts_;
};

TEST_F(OtlpSpanExporterTest, ShutdownDeadlineDropsWhatIsLeft) {
  // Real, interruptible retry waits; the collector hangs. Shutdown must end near its deadline,
  // shorten request timeouts to it, and count what it could not send as "shutdown".
  RealClock real_clock;
  options_.clock = &real_clock;
  options_.retry_wait = nullptr;
  options_.retry.initial_backoff = absl::Seconds(10);
  options_.max_batch_size = 5;
  config_.timeout = absl::Milliseconds(200);
  auto transport = std::make_unique<HangingTransport>();
  HangingTransport* hanging = transport.get();
  auto created = OtlpSpanExporter::Create(config_, registry_, options_, std::move(transport));
  ASSERT_TRUE(created.ok());
  auto exporter = *std::move(created);
  for (uint32_t i = 0; i < 20; ++i) exporter->Consume(MakeSpan(i));
  while (hanging->timeouts().empty()) absl::SleepFor(absl::Milliseconds(5));

  absl::Time start = absl::Now();
  exporter->Shutdown(absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));
  auto timeouts = hanging->timeouts();
  ASSERT_GE(timeouts.size(), 2u);
  for (size_t i = 1; i < timeouts.size(); ++i) EXPECT_LE(timeouts[i], absl::Milliseconds(300));

  EXPECT_EQ(Value(registry_, "loupe_spans_exported_total"), 0);
  double shutdown = Value(registry_, "loupe_spans_dropped_total", "shutdown");
  double failed = Value(registry_, "loupe_spans_dropped_total", "export_failed");
  EXPECT_EQ(shutdown + failed, 20);
  EXPECT_GE(shutdown, 5);
  EXPECT_EQ(Value(registry_, "loupe_otlp_queue_spans"), 0);
  exporter->Consume(MakeSpan(99));
  EXPECT_EQ(Value(registry_, "loupe_spans_dropped_total", "shutdown"), shutdown + 1);
}

}  // namespace
}  // namespace loupe
