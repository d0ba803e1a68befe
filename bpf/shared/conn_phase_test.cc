// The kernel connection phase machine (bpf/shared/conn_phase.h), the same header the BPF
// program compiles, walked here (phase, event, facts) by (phase, event, facts) against the table
// its comment documents.
#include "bpf/shared/conn_phase.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

constexpr uint32_t kGone = LOUPE_PHASE_GONE;

const std::vector<uint32_t> kPhases = {
    LOUPE_PHASE_IDLE,          LOUPE_PHASE_REQUEST, LOUPE_PHASE_RESPONSE, LOUPE_PHASE_SYNC,
    LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_PHASE_CLOSED,  LOUPE_PHASE_STREAM,
};

const std::vector<uint32_t> kEvents = {
    LOUPE_CONN_REQUEST_DATA, LOUPE_CONN_RESPONSE_DATA, LOUPE_CONN_CLOSE,
    LOUPE_CONN_CLOSE_FD_REUSED, LOUPE_CONN_TLS, LOUPE_CONN_OUTGROWN,
};

// Every combination of the LOUPE_FACT_* bits.
constexpr uint32_t kAllFacts =
    LOUPE_FACT_CLIENT_FIRST | LOUPE_FACT_HAD_EXCHANGE | LOUPE_FACT_USERSPACE_KNOWS;

struct Row {
  uint32_t phase;
  uint32_t event;
  uint32_t facts;  // the facts the row needs; the others must not change the outcome
  uint32_t next_phase;
  uint32_t action;
};

constexpr uint32_t kRecordFacts = LOUPE_FACT_HAD_EXCHANGE | LOUPE_FACT_USERSPACE_KNOWS;

// The table of conn_phase.h's comment, one row per (phase, event[, deciding facts]).
const std::vector<Row> kTable = {
    // request-direction data
    {LOUPE_PHASE_IDLE, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_REQUEST, LOUPE_ACT_REQUEST_START},
    {LOUPE_PHASE_REQUEST, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_REQUEST, LOUPE_ACT_REQUEST_MORE},
    {LOUPE_PHASE_RESPONSE, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_REQUEST, LOUPE_ACT_REQUEST_NEXT},
    {LOUPE_PHASE_SYNC, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_SYNC, LOUPE_ACT_SYNC_SKIP},
    {LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_REQUEST,
     LOUPE_ACT_REQUEST_START},
    {LOUPE_PHASE_CLOSED, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_CLOSED, LOUPE_ACT_NONE},
    {LOUPE_PHASE_STREAM, LOUPE_CONN_REQUEST_DATA, 0, LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_CHUNKS},
    // response-direction data
    {LOUPE_PHASE_IDLE, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_IDLE, LOUPE_ACT_UNSOLICITED},
    {LOUPE_PHASE_IDLE, LOUPE_CONN_RESPONSE_DATA, LOUPE_FACT_CLIENT_FIRST, LOUPE_PHASE_RESPONSE,
     LOUPE_ACT_SERVER_FIRST},
    {LOUPE_PHASE_REQUEST, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_RESPONSE,
     LOUPE_ACT_RESPONSE_BEGIN},
    {LOUPE_PHASE_RESPONSE, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_RESPONSE,
     LOUPE_ACT_RESPONSE_MORE},
    {LOUPE_PHASE_SYNC, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_ACT_SYNC_SKIP},
    {LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_SYNC_BOUNDARY,
     LOUPE_ACT_SYNC_SKIP},
    {LOUPE_PHASE_CLOSED, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_CLOSED, LOUPE_ACT_NONE},
    {LOUPE_PHASE_STREAM, LOUPE_CONN_RESPONSE_DATA, 0, LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_CHUNKS},
    // TLS found on the socket: only a raw request in progress is forgotten
    {LOUPE_PHASE_IDLE, LOUPE_CONN_TLS, 0, LOUPE_PHASE_IDLE, LOUPE_ACT_NONE},
    {LOUPE_PHASE_REQUEST, LOUPE_CONN_TLS, 0, LOUPE_PHASE_IDLE, LOUPE_ACT_FORGET_REQUEST},
    {LOUPE_PHASE_RESPONSE, LOUPE_CONN_TLS, 0, LOUPE_PHASE_RESPONSE, LOUPE_ACT_NONE},
    {LOUPE_PHASE_SYNC, LOUPE_CONN_TLS, 0, LOUPE_PHASE_SYNC, LOUPE_ACT_NONE},
    {LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_CONN_TLS, 0, LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_ACT_NONE},
    {LOUPE_PHASE_CLOSED, LOUPE_CONN_TLS, 0, LOUPE_PHASE_CLOSED, LOUPE_ACT_NONE},
    {LOUPE_PHASE_STREAM, LOUPE_CONN_TLS, 0, LOUPE_PHASE_STREAM, LOUPE_ACT_NONE},
    // an HTTP/1 request outgrows the exchange record: stream mode, from an exchange in progress
    {LOUPE_PHASE_IDLE, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_IDLE, LOUPE_ACT_NONE},
    {LOUPE_PHASE_REQUEST, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_BEGIN},
    {LOUPE_PHASE_RESPONSE, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_STREAM, LOUPE_ACT_STREAM_BEGIN},
    {LOUPE_PHASE_SYNC, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_SYNC, LOUPE_ACT_NONE},
    {LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_SYNC_BOUNDARY, LOUPE_ACT_NONE},
    {LOUPE_PHASE_CLOSED, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_CLOSED, LOUPE_ACT_NONE},
    {LOUPE_PHASE_STREAM, LOUPE_CONN_OUTGROWN, 0, LOUPE_PHASE_STREAM, LOUPE_ACT_NONE},
};

// Close and its fd-reused variant: the same for every open phase, decided by the facts.
std::vector<Row> CloseRows() {
  std::vector<Row> rows;
  for (uint32_t phase : kPhases) {
    for (uint32_t event : {LOUPE_CONN_CLOSE, LOUPE_CONN_CLOSE_FD_REUSED}) {
      if (phase == LOUPE_PHASE_CLOSED) {
        rows.push_back({phase, event, 0, LOUPE_PHASE_CLOSED, LOUPE_ACT_NONE});
        continue;
      }
      const uint32_t next =
          event == LOUPE_CONN_CLOSE ? kGone : static_cast<uint32_t>(LOUPE_PHASE_CLOSED);
      rows.push_back({phase, event, 0, next, LOUPE_ACT_CLOSE_SILENT});
      rows.push_back({phase, event, LOUPE_FACT_HAD_EXCHANGE, next, LOUPE_ACT_CLOSE_SILENT});
      rows.push_back({phase, event, LOUPE_FACT_USERSPACE_KNOWS, next, LOUPE_ACT_CLOSE_SILENT});
      rows.push_back({phase, event, kRecordFacts, next, LOUPE_ACT_CLOSE_RECORD});
    }
  }
  return rows;
}

std::string Describe(uint32_t phase, uint32_t event, uint32_t facts) {
  return "phase " + std::to_string(phase) + " event " + std::to_string(event) + " facts " +
         std::to_string(facts);
}

// The row deciding (phase, event, facts): the one with the most of its facts set in `facts`.
const Row* Find(const std::vector<Row>& rows, uint32_t phase, uint32_t event, uint32_t facts) {
  const Row* best = nullptr;
  for (const Row& row : rows) {
    if (row.phase != phase || row.event != event || (row.facts & ~facts) != 0) continue;
    if (best == nullptr || __builtin_popcount(row.facts) > __builtin_popcount(best->facts)) {
      best = &row;
    }
  }
  return best;
}

TEST(ConnPhaseTest, EveryPhaseEventAndFactsFollowsTheTable) {
  std::vector<Row> rows = kTable;
  for (const Row& row : CloseRows()) rows.push_back(row);
  int checked = 0;
  for (uint32_t phase : kPhases) {
    for (uint32_t event : kEvents) {
      for (uint32_t facts = 0; facts <= kAllFacts; ++facts) {
        SCOPED_TRACE(Describe(phase, event, facts));
        const Row* row = Find(rows, phase, event, facts);
        ASSERT_NE(row, nullptr) << "the table has no row for this";
        const loupe_step step = loupe_conn_step(phase, event, facts);
        EXPECT_EQ(step.next_phase, row->next_phase);
        EXPECT_EQ(step.action, row->action);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 7 * 6 * 8);
}

TEST(ConnPhaseTest, AnUnknownEventChangesNothing) {
  for (uint32_t phase : kPhases) {
    const loupe_step step = loupe_conn_step(phase, 99, kAllFacts);
    EXPECT_EQ(step.next_phase, phase);
    EXPECT_EQ(step.action, static_cast<uint32_t>(LOUPE_ACT_NONE));
  }
}

// A pre-existing connection (SYNC) sees nothing until a response-to-request direction change.
TEST(ConnPhaseTest, PreexistingConnectionWaitsForACleanBoundary) {
  uint32_t phase = LOUPE_PHASE_SYNC;
  const uint32_t events[] = {LOUPE_CONN_REQUEST_DATA, LOUPE_CONN_RESPONSE_DATA,
                             LOUPE_CONN_RESPONSE_DATA, LOUPE_CONN_REQUEST_DATA};
  const uint32_t actions[] = {LOUPE_ACT_SYNC_SKIP, LOUPE_ACT_SYNC_SKIP, LOUPE_ACT_SYNC_SKIP,
                              LOUPE_ACT_REQUEST_START};
  for (int i = 0; i < 4; ++i) {
    const loupe_step step = loupe_conn_step(phase, events[i], 0);
    EXPECT_EQ(step.action, actions[i]) << "step " << i;
    phase = step.next_phase;
  }
  EXPECT_EQ(phase, static_cast<uint32_t>(LOUPE_PHASE_REQUEST));
}

// Keep-alive: request, response, request... each request after a response starts the next
// exchange and carries the previous one's end.
TEST(ConnPhaseTest, KeepAliveAlternatesRequestAndResponse) {
  uint32_t phase = LOUPE_PHASE_IDLE;
  std::vector<uint32_t> actions;
  for (int i = 0; i < 2; ++i) {
    for (uint32_t event : {LOUPE_CONN_REQUEST_DATA, LOUPE_CONN_REQUEST_DATA,
                           LOUPE_CONN_RESPONSE_DATA, LOUPE_CONN_RESPONSE_DATA}) {
      const loupe_step step = loupe_conn_step(phase, event, 0);
      actions.push_back(step.action);
      phase = step.next_phase;
    }
  }
  const std::vector<uint32_t> expected = {
      LOUPE_ACT_REQUEST_START, LOUPE_ACT_REQUEST_MORE, LOUPE_ACT_RESPONSE_BEGIN,
      LOUPE_ACT_RESPONSE_MORE, LOUPE_ACT_REQUEST_NEXT, LOUPE_ACT_REQUEST_MORE,
      LOUPE_ACT_RESPONSE_BEGIN, LOUPE_ACT_RESPONSE_MORE,
  };
  EXPECT_EQ(actions, expected);
  EXPECT_EQ(loupe_conn_step(phase, LOUPE_CONN_CLOSE, kRecordFacts).action,
            static_cast<uint32_t>(LOUPE_ACT_CLOSE_RECORD));
}

TEST(ConnPhaseTest, UserspaceKnowsEveryConnectionWithoutKernelRed) {
  for (uint32_t phase : kPhases) EXPECT_TRUE(loupe_userspace_knows(0, 0, phase));
}

TEST(ConnPhaseTest, WithKernelRedUserspaceKnowsOnlyWhatWentOutAsARecord) {
  EXPECT_FALSE(loupe_userspace_knows(1, 0, LOUPE_PHASE_RESPONSE));
  EXPECT_FALSE(loupe_userspace_knows(1, 0, LOUPE_PHASE_IDLE));
  EXPECT_TRUE(loupe_userspace_knows(1, 0, LOUPE_PHASE_REQUEST));  // a CLOSE would carry it
  EXPECT_TRUE(loupe_userspace_knows(1, 3, LOUPE_PHASE_RESPONSE));
}

TEST(ConnPhaseTest, PrevEndOnlyRightAfterARecord) {
  EXPECT_FALSE(loupe_needs_prev_end(0, 1));
  EXPECT_TRUE(loupe_needs_prev_end(4, 5));
  EXPECT_FALSE(loupe_needs_prev_end(4, 6));  // the one in between was counted in the kernel
}

TEST(ConnPhaseTest, StreamSwitchRules) {
  // More request bytes: a small head extended by a small read stays an exchange.
  EXPECT_FALSE(loupe_stream_on_more(10, 10, 100));
  EXPECT_TRUE(loupe_stream_on_more(10, 10, LOUPE_APPEND_MAX));
  EXPECT_TRUE(loupe_stream_on_more(LOUPE_SMALL_HEAD, LOUPE_SMALL_HEAD, 1));
  EXPECT_FALSE(loupe_stream_on_more(LOUPE_SMALL_HEAD, 5000, 1));  // already truncated
  // A request's first syscall moved more than the prefix holds.
  EXPECT_FALSE(loupe_stream_on_start(100, 100));
  EXPECT_TRUE(loupe_stream_on_start(100, 101));
  // At the response: bytes after the first head.
  EXPECT_TRUE(loupe_request_whole(200, 200));
  EXPECT_FALSE(loupe_request_whole(200, 300));
  EXPECT_FALSE(loupe_stream_head_end_inside(0, 200));
  EXPECT_FALSE(loupe_stream_head_end_inside(200, 200));
  EXPECT_TRUE(loupe_stream_head_end_inside(120, 200));
}

}  // namespace
