// The trace rules of SpanAssembler (its header comment, docs/tracing.md), one table row per rule
// and per way a rule must not apply, then the assembly window, early emission, the buffer bound
// and the shutdown flush. Time is a FakeClock: nothing here sleeps.
#include "userspace/spans/span_assembler.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "userspace/core/clock.h"

namespace loupe {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000 * kMs;
constexpr uint64_t kWindow = 2'500 * kMs;

// One exchange as the assembler receives it. Timestamps are CLOCK_MONOTONIC.
struct Call {
  std::string name;
  SpanKind kind = SpanKind::kServer;
  uint32_t tgid = 0;
  uint32_t tid = 0;
  std::string local_address;
  uint16_t local_port = 0;
  std::string remote_address;
  uint16_t remote_port = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  std::optional<TraceContext> traceparent;
};

// Both ends of one loopback connection: the client 10.0.0.1:40000 -> the server 10.0.0.2:80.
Call ClientCall(std::string name, uint32_t tgid, uint32_t tid, uint64_t start, uint64_t end) {
  return Call{std::move(name), SpanKind::kClient, tgid, tid, "10.0.0.1", 40000, "10.0.0.2", 80,
              start, end, std::nullopt};
}
Call ServerCall(std::string name, uint32_t tgid, uint32_t tid, uint64_t start, uint64_t end) {
  return Call{std::move(name), SpanKind::kServer, tgid, tid, "10.0.0.2", 80, "10.0.0.1", 40000,
              start, end, std::nullopt};
}
// A request the process served from some other peer (so it counts as a serving process).
Call OtherServerCall(std::string name, uint32_t tgid, uint32_t tid, uint64_t start,
                     uint64_t end) {
  return Call{std::move(name), SpanKind::kServer, tgid, tid, "10.0.0.9", 8080, "10.0.0.8", 50000,
              start, end, std::nullopt};
}

TraceContext Caller(bool sampled) {
  TraceContext ctx;
  for (uint8_t i = 0; i < 16; ++i) ctx.trace_id[i] = static_cast<uint8_t>(0xA0 + i);
  for (uint8_t i = 0; i < 8; ++i) ctx.span_id[i] = static_cast<uint8_t>(0xC0 + i);
  ctx.sampled = sampled;
  return ctx;
}

class RecordingSpanSink : public SpanSink {
 public:
  void Consume(Span span) override { spans.push_back(std::move(span)); }
  const Span* Find(const std::string& name) const {
    for (const Span& span : spans) {
      if (span.name == name) return &span;
    }
    return nullptr;
  }
  std::vector<Span> spans;
};

bool IsRoot(const Span& span) { return span.parent_span_id == std::array<uint8_t, 8>{}; }

class SpanAssemblerTest : public ::testing::Test {
 protected:
  SpanAssemblerTest() : clock_(/*monotonic_ns=*/10 * kSec) { Build(SpanAssemblerOptions{}); }

  void Build(SpanAssemblerOptions options) {
    assembler_.reset();
    registry_ = std::make_unique<prometheus::Registry>();
    assembler_ = std::make_unique<SpanAssembler>(options, &sink_, *registry_, &clock_);
  }

  void Add(const Call& call) {
    Record record;
    // The family gives the span kind.
    record.instrument = call.kind == SpanKind::kServer ? &instruments::kHttpServer
                                                       : &instruments::kHttpClient;
    record.span_name = call.name;
    record.start_ns = call.start_ns;
    record.end_ns = call.end_ns;
    record.incoming_context = call.traceparent;
    RecordContext context;
    context.tgid = call.tgid;
    context.tid = call.tid;
    context.role = call.kind == SpanKind::kServer ? Role::kServer : Role::kClient;
    context.local_address = call.local_address;
    context.local_port = call.local_port;
    context.remote_address = call.remote_address;
    context.remote_port = call.remote_port;
    auto resource = std::make_shared<ProcessResource>();
    resource->pid = call.tgid;
    assembler_->OnResolvedRecord(context, resource, std::move(record));
  }

  // Lets the assembly window pass and emits what it held.
  void PassWindow() {
    clock_.Advance(kWindow);
    assembler_->Flush();
  }

  double Counter(const std::string& name, const std::string& source = "") {
    for (const auto& family : registry_->Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        bool match = source.empty();
        for (const auto& label : metric.label) match |= label.value == source;
        if (match) return metric.counter.value;
      }
    }
    ADD_FAILURE() << "no counter " << name << " " << source;
    return -1;
  }

  const Span& Get(const std::string& name) {
    const Span* span = sink_.Find(name);
    if (span == nullptr) {
      ADD_FAILURE() << "no span " << name;
      static const Span kNone;
      return kNone;
    }
    return *span;
  }

  FakeClock clock_;
  RecordingSpanSink sink_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<SpanAssembler> assembler_;
};

// ---- The parent rules, one row each ------------------------------------------------------

enum class Parent { kRoot, kTraceparent, kSpan };

struct ParentCase {
  std::string rule;
  std::vector<Call> arrivals;  // in arrival (completion) order
  std::string child;           // the span under test
  Parent parent;
  std::string parent_name;     // for Parent::kSpan
  std::string source;          // loupe_span_parents_total{source} expected 1 ("" : none)
};

class ParentRuleTest : public SpanAssemblerTest,
                       public ::testing::WithParamInterface<ParentCase> {};

TEST_P(ParentRuleTest, FindsTheParentTheRuleNames) {
  const ParentCase& c = GetParam();
  for (const Call& call : c.arrivals) Add(call);
  PassWindow();
  const Span& child = Get(c.child);
  switch (c.parent) {
    case Parent::kRoot:
      EXPECT_TRUE(IsRoot(child));
      EXPECT_NE(child.trace_id, (std::array<uint8_t, 16>{}));
      for (const Span& other : sink_.spans) {
        if (other.name != c.child) {
          EXPECT_NE(other.trace_id, child.trace_id) << other.name;
        }
      }
      break;
    case Parent::kTraceparent:
      EXPECT_EQ(child.trace_id, Caller(true).trace_id);
      EXPECT_EQ(child.parent_span_id, Caller(true).span_id);
      break;
    case Parent::kSpan: {
      const Span& parent = Get(c.parent_name);
      EXPECT_EQ(child.trace_id, parent.trace_id);
      EXPECT_EQ(child.parent_span_id, parent.span_id);
      break;
    }
  }
  for (const std::string source : {"traceparent", "local_client", "serving_thread"}) {
    EXPECT_EQ(Counter("loupe_span_parents_total", source), source == c.source ? 1 : 0) << source;
  }
}

// The frontend (tgid 1) serves a request on thread 11 and, while serving it, calls the backend
// (tgid 2, thread 21) over loopback. Times in ms after 1 s of monotonic time.
constexpr uint64_t T = 1 * kSec;

INSTANTIATE_TEST_SUITE_P(
    Rules, ParentRuleTest,
    ::testing::Values(
        // Rule 1: an incoming traceparent is continued.
        ParentCase{"traceparent_continued",
                   {[] {
                     Call call = OtherServerCall("in", 1, 11, T, T + 10 * kMs);
                     call.traceparent = Caller(true);
                     return call;
                   }()},
                   "in", Parent::kTraceparent, "", "traceparent"},
        // Rule 2: the server end of a local connection is the client end's child. The server
        // completes first, so it arrives first.
        ParentCase{"local_client",
                   {ServerCall("backend", 2, 21, T + 2 * kMs, T + 8 * kMs),
                    ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs)},
                   "backend", Parent::kSpan, "call", "local_client"},
        // Rule 2 tolerates the two ends' clocks disagreeing by microseconds.
        ParentCase{"local_client_within_tolerance",
                   {ServerCall("backend", 2, 21, T + 1 * kMs - 100'000, T + 8 * kMs),
                    ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs)},
                   "backend", Parent::kSpan, "call", "local_client"},
        ParentCase{"local_client_interval_not_enclosing",
                   {ServerCall("backend", 2, 21, T + 2 * kMs, T + 12 * kMs),
                    ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs)},
                   "backend", Parent::kRoot, "", ""},
        ParentCase{"local_client_other_connection",
                   {ServerCall("backend", 2, 21, T + 2 * kMs, T + 8 * kMs),
                    [] {
                      Call call = ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs);
                      call.local_port = 40001;  // not the server's peer
                      return call;
                    }()},
                   "backend", Parent::kRoot, "", ""},
        // Rule 3: a client call made by the thread while it served a request is its child.
        ParentCase{"serving_thread",
                   {OtherServerCall("earlier", 1, 11, T - 500 * kMs, T - 400 * kMs),
                    ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs),
                    OtherServerCall("frontend", 1, 11, T, T + 10 * kMs)},
                   "call", Parent::kSpan, "frontend", "serving_thread"},
        ParentCase{"serving_thread_other_thread",
                   {OtherServerCall("earlier", 1, 12, T - 500 * kMs, T - 400 * kMs),
                    ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs),
                    OtherServerCall("frontend", 1, 12, T, T + 10 * kMs)},
                   "call", Parent::kRoot, "", ""},
        ParentCase{"serving_thread_other_process",
                   {OtherServerCall("earlier", 1, 11, T - 500 * kMs, T - 400 * kMs),
                    ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs),
                    OtherServerCall("frontend", 3, 11, T, T + 10 * kMs)},
                   "call", Parent::kRoot, "", ""},
        ParentCase{"serving_thread_interval_not_enclosing",
                   {OtherServerCall("earlier", 1, 11, T - 500 * kMs, T - 400 * kMs),
                    ClientCall("call", 1, 11, T + 9 * kMs, T + 11 * kMs),
                    OtherServerCall("frontend", 1, 11, T, T + 10 * kMs)},
                   "call", Parent::kRoot, "", ""},
        // Rule 4: nothing links, a new trace starts.
        ParentCase{"new_trace",
                   {OtherServerCall("alone", 1, 11, T, T + 10 * kMs)},
                   "alone", Parent::kRoot, "", ""}),
    [](const ::testing::TestParamInfo<ParentCase>& info) { return info.param.rule; });

TEST_F(SpanAssemblerTest, RulesChainIntoOneTraceAcrossTwoProcesses) {
  // Incoming traceparent -> frontend (rule 1) -> its call (rule 3) -> backend (rule 2).
  Add(OtherServerCall("earlier", 1, 11, T - 500 * kMs, T - 400 * kMs));
  Add(ServerCall("backend", 2, 21, T + 2 * kMs, T + 8 * kMs));
  Add(ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs));
  Call frontend = OtherServerCall("frontend", 1, 11, T, T + 10 * kMs);
  frontend.traceparent = Caller(true);
  Add(frontend);
  PassWindow();
  EXPECT_EQ(Get("frontend").trace_id, Caller(true).trace_id);
  EXPECT_EQ(Get("frontend").parent_span_id, Caller(true).span_id);
  EXPECT_EQ(Get("call").trace_id, Caller(true).trace_id);
  EXPECT_EQ(Get("call").parent_span_id, Get("frontend").span_id);
  EXPECT_EQ(Get("backend").trace_id, Caller(true).trace_id);
  EXPECT_EQ(Get("backend").parent_span_id, Get("call").span_id);
}

TEST_F(SpanAssemblerTest, UnsampledTraceparentIsNotExportedNorAreItsChildren) {
  Add(ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs));  // before the process served: root
  Add(OtherServerCall("earlier", 1, 11, T - 500 * kMs, T - 400 * kMs));
  Add(ClientCall("call2", 1, 11, T + 11 * kMs, T + 19 * kMs));
  Call frontend = OtherServerCall("frontend", 1, 11, T + 10 * kMs, T + 20 * kMs);
  frontend.traceparent = Caller(false);
  Add(frontend);
  PassWindow();
  EXPECT_EQ(sink_.Find("frontend"), nullptr);
  EXPECT_EQ(sink_.Find("call2"), nullptr);  // inherits "not sampled" from its parent
  EXPECT_NE(sink_.Find("call"), nullptr);
  EXPECT_EQ(Counter("loupe_spans_unsampled_total"), 2);
}

TEST_F(SpanAssemblerTest, SpanCarriesUnixTimesAndErrorType) {
  Call call = OtherServerCall("GET /", 1, 11, T, T + 10 * kMs);
  Add(call);
  PassWindow();
  const Span& span = Get("GET /");
  EXPECT_EQ(span.start_unix_ns, clock_.MonotonicToUnixNs(T));
  EXPECT_EQ(span.end_unix_ns, clock_.MonotonicToUnixNs(T + 10 * kMs));
  EXPECT_EQ(span.kind, SpanKind::kServer);
  ASSERT_NE(span.resource, nullptr);
  EXPECT_EQ(span.resource->pid, 1);
  EXPECT_EQ(Counter("loupe_spans_assembled_total"), 1);
}

// ---- The assembly window -----------------------------------------------------------------

TEST_F(SpanAssemblerTest, ParentArrivingWithinTheWindowIsFound) {
  Add(ServerCall("backend", 2, 21, T + 2 * kMs, T + 8 * kMs));
  clock_.Advance(kWindow - 1 * kMs);
  assembler_->Flush();
  EXPECT_TRUE(sink_.spans.empty());  // still held
  Add(ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs));  // its parent, late but in time
  clock_.Advance(1 * kMs);
  assembler_->Flush();
  ASSERT_EQ(sink_.spans.size(), 2u);  // the client: its process never served, emitted at once
  EXPECT_EQ(Get("backend").parent_span_id, Get("call").span_id);
}

TEST_F(SpanAssemblerTest, ParentArrivingAfterTheWindowIsNotFound) {
  Add(ServerCall("backend", 2, 21, T + 2 * kMs, T + 8 * kMs));
  PassWindow();
  ASSERT_EQ(sink_.spans.size(), 1u);
  EXPECT_TRUE(IsRoot(Get("backend")));
  Add(ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs));
  EXPECT_NE(Get("call").trace_id, Get("backend").trace_id);
}

TEST_F(SpanAssemblerTest, EmittedParentStaysFindableOneMoreWindow) {
  Add(OtherServerCall("frontend", 1, 11, T, T + 10 * kMs));
  PassWindow();  // the parent is out
  ASSERT_NE(sink_.Find("frontend"), nullptr);
  clock_.Advance(kWindow - 1 * kMs);
  Add(ClientCall("late_child", 1, 11, T + 1 * kMs, T + 9 * kMs));
  PassWindow();
  EXPECT_EQ(Get("late_child").parent_span_id, Get("frontend").span_id);
  EXPECT_EQ(Get("late_child").trace_id, Get("frontend").trace_id);
}

TEST_F(SpanAssemblerTest, EmittedParentIsForgottenAfterTheSecondWindow) {
  Add(OtherServerCall("frontend", 1, 11, T, T + 10 * kMs));
  PassWindow();
  PassWindow();
  EXPECT_EQ(assembler_->buffered(), 0u);
  Add(ClientCall("too_late", 1, 11, T + 1 * kMs, T + 9 * kMs));
  PassWindow();
  EXPECT_TRUE(IsRoot(Get("too_late")));
}

// ---- Early emission ------------------------------------------------------------------------

TEST_F(SpanAssemblerTest, TraceparentServerSpanIsEmittedAtOnce) {
  Call call = OtherServerCall("in", 1, 11, T, T + 10 * kMs);
  call.traceparent = Caller(true);
  Add(call);
  ASSERT_EQ(sink_.spans.size(), 1u);  // no Flush, no time passed
  EXPECT_EQ(sink_.spans[0].parent_span_id, Caller(true).span_id);
}

TEST_F(SpanAssemblerTest, ClientSpanOfAProcessThatNeverServedIsEmittedAtOnce) {
  Add(ClientCall("load_generator", 7, 71, T, T + 10 * kMs));
  ASSERT_EQ(sink_.spans.size(), 1u);
  EXPECT_TRUE(IsRoot(sink_.spans[0]));
}

TEST_F(SpanAssemblerTest, ClientSpanOfAServingProcessAndPlainServerSpansWaitForTheWindow) {
  Add(OtherServerCall("served", 1, 11, T - 500 * kMs, T - 400 * kMs));
  Add(ClientCall("call", 1, 12, T, T + 10 * kMs));
  EXPECT_TRUE(sink_.spans.empty());
  EXPECT_EQ(assembler_->buffered(), 2u);
  PassWindow();
  EXPECT_EQ(sink_.spans.size(), 2u);
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 0);
}

// ---- The buffer bound ----------------------------------------------------------------------

TEST_F(SpanAssemblerTest, FullBufferResolvesTheOldestEarlyAndCountsIt) {
  SpanAssemblerOptions options;
  options.max_buffered = 2;
  Build(options);
  Add(OtherServerCall("first", 1, 11, T, T + 1 * kMs));
  Add(OtherServerCall("second", 1, 12, T, T + 1 * kMs));
  EXPECT_TRUE(sink_.spans.empty());
  Add(OtherServerCall("third", 1, 13, T, T + 1 * kMs));
  ASSERT_EQ(sink_.spans.size(), 1u);
  EXPECT_EQ(sink_.spans[0].name, "first");
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 1);
  EXPECT_LE(assembler_->buffered(), 2u);
  PassWindow();
  EXPECT_EQ(sink_.spans.size(), 3u);
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 1);
}

TEST_F(SpanAssemblerTest, FullBufferForgetsEmittedSpansBeforeResolvingAnyEarly) {
  SpanAssemblerOptions options;
  options.max_buffered = 2;
  Build(options);
  Add(ClientCall("emitted_at_once", 7, 71, T, T + 1 * kMs));  // never-serving process
  Add(OtherServerCall("first", 1, 11, T, T + 1 * kMs));
  Add(OtherServerCall("second", 1, 12, T, T + 1 * kMs));  // forgets "emitted_at_once"
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 0);
  ASSERT_EQ(sink_.spans.size(), 1u);
  // Now the buffer holds two waiting spans: the next one forces exactly one out early. (The
  // forgotten span's turn in the emission order must not count as an early resolution.)
  Add(OtherServerCall("third", 1, 13, T, T + 1 * kMs));
  ASSERT_EQ(sink_.spans.size(), 2u);
  EXPECT_EQ(sink_.spans[1].name, "first");
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 1);
  PassWindow();
  EXPECT_EQ(sink_.spans.size(), 4u);
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 1);
}

// ---- Shutdown ------------------------------------------------------------------------------

TEST_F(SpanAssemblerTest, FlushAllAtShutdownEmitsEverythingHeldWithItsLinks) {
  Add(OtherServerCall("earlier", 1, 11, T - 500 * kMs, T - 400 * kMs));
  Add(ServerCall("backend", 2, 21, T + 2 * kMs, T + 8 * kMs));
  Add(ClientCall("call", 1, 11, T + 1 * kMs, T + 9 * kMs));
  Add(OtherServerCall("frontend", 1, 11, T, T + 10 * kMs));
  EXPECT_TRUE(sink_.spans.empty());
  assembler_->FlushAll();  // no time passed
  ASSERT_EQ(sink_.spans.size(), 4u);
  EXPECT_EQ(Get("backend").parent_span_id, Get("call").span_id);
  EXPECT_EQ(Get("call").parent_span_id, Get("frontend").span_id);
  EXPECT_EQ(Get("backend").trace_id, Get("frontend").trace_id);
  EXPECT_EQ(Counter("loupe_spans_assembled_early_total"), 0);
}

}  // namespace
}  // namespace loupe
