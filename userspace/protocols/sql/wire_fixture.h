// Test-only helpers shared by the database protocol tests: loads a captured conversation from
// tests/fixtures/<protocol>/<name>/ (NN.req = bytes the client wrote, NN.resp = bytes it then
// read, one pair per exchange as the kernel splits them by direction change) and turns it into
// Exchanges with the agent's bounded prefixes. Header-only so any test can use it without a link
// dependency.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "userspace/core/exchange.h"
#include "userspace/core/record.h"
#include "userspace/protocols/protocol.h"

namespace loupe::testing_fixture {

struct WireExchange {
  std::string name;  // e.g. "postgresql/psql_session/05"
  std::string request;
  std::string response;
};

// The client end of a loopback connection to `server_port`, as the tracker describes it.
inline ConnectionInfo ClientConn(uint16_t server_port) {
  ConnectionInfo conn;
  conn.role = Role::kClient;
  conn.server_address = "127.0.0.1";
  conn.server_port = server_port;
  return conn;
}

inline std::string FixtureRoot() { return std::string(LOUPE_SOURCE_DIR) + "/tests/fixtures"; }

inline std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// All exchanges of one conversation folder, in order. Empty when the folder does not exist.
inline std::vector<WireExchange> LoadConversation(const std::string& relative_dir) {
  const std::filesystem::path dir = std::filesystem::path(FixtureRoot()) / relative_dir;
  std::vector<std::string> stems;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".req") stems.push_back(entry.path().stem().string());
  }
  std::sort(stems.begin(), stems.end());
  std::vector<WireExchange> out;
  for (const auto& stem : stems) {
    out.push_back({relative_dir + "/" + stem, ReadFileBytes(dir / (stem + ".req")),
                   ReadFileBytes(dir / (stem + ".resp"))});
  }
  return out;
}

// Every conversation folder under tests/fixtures/<protocol>/ (folders holding NN.req files).
inline std::vector<std::string> ListConversations(const std::string& protocol) {
  std::vector<std::string> out;
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::path(FixtureRoot()) / protocol;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && it->path().extension() == ".req") {
      out.push_back(std::filesystem::relative(it->path().parent_path(), FixtureRoot()).string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

inline constexpr size_t kRequestCapture = 1024;
inline constexpr size_t kResponseCapture = 512;

// The Exchange the agent would deliver: prefixes cut to the capture sizes, totals exact.
// `storage` keeps the bytes the views point into alive.
inline Exchange MakeExchange(const WireExchange& wire, bool final, uint64_t seq = 0,
                             Role role = Role::kClient, size_t request_cap = kRequestCapture,
                             size_t response_cap = kResponseCapture) {
  Exchange ex;
  ex.role = role;
  ex.seq = seq;
  ex.request_start_ns = 1000 * (seq + 1);
  ex.request_end_ns = ex.request_start_ns + 10;
  ex.response_start_ns = ex.request_end_ns + 100;
  ex.response_end_ns = wire.response.empty() ? ex.request_end_ns : ex.response_start_ns + 50;
  ex.request_bytes = wire.request.size();
  ex.response_bytes = wire.response.size();
  ex.response_chunks = wire.response.empty() ? 0 : 1;
  ex.first_response_chunk_bytes = wire.response.size();
  ex.request = std::string_view(wire.request).substr(0, std::min(request_cap, wire.request.size()));
  ex.response = std::string_view(wire.response).substr(0, std::min(response_cap, wire.response.size()));
  ex.final = final;
  return ex;
}

// DB protocols report calls from the client side: on the server's end of a connection every
// exchange of a real conversation must be ignored and produce nothing.
inline void ExpectServerRoleIgnored(const Protocol& protocol, ConnectionInfo conn,
                                    const std::string& conversation) {
  conn.role = Role::kServer;
  auto parser = protocol.NewConnection(conn);
  for (const auto& wire : LoadConversation(conversation)) {
    std::vector<Record> out;
    EXPECT_EQ(parser->Parse(MakeExchange(wire, true, 0, Role::kServer), &out),
              ParseState::kIgnored)
        << wire.name;
    EXPECT_TRUE(out.empty()) << wire.name;
  }
}

// Feeds one exchange the way the tracker does: first not final; if the parser asks for more,
// again with final=true.
inline ParseState Feed(ConnectionParser& parser, const WireExchange& wire, uint64_t seq,
                       std::vector<Record>* out) {
  const ParseState first = parser.Parse(MakeExchange(wire, /*final=*/false, seq), out);
  if (first != ParseState::kNeedsMoreData) return first;
  return parser.Parse(MakeExchange(wire, /*final=*/true, seq), out);
}

// The conversation's first successful call, replayed with its answer never arriving: when the
// connection closed (kernel totals, no response byte) each call in it is an error with
// error.type "no_response"; when it only timed out its outcome is unknown (no error).
inline void ExpectUnansweredCallFails(const Protocol& protocol, const ConnectionInfo& conn,
                                      const std::string& conversation) {
  const std::vector<WireExchange> wires = LoadConversation(conversation);
  size_t call = wires.size();
  {
    auto parser = protocol.NewConnection(conn);
    for (size_t i = 0; i < wires.size() && call == wires.size(); ++i) {
      std::vector<Record> out;
      Feed(*parser, wires[i], i, &out);
      if (!out.empty() && !out.front().is_error) call = i;
    }
  }
  ASSERT_LT(call, wires.size()) << conversation << ": no successful call to replay";
  for (const bool closed : {true, false}) {
    auto parser = protocol.NewConnection(conn);
    for (size_t i = 0; i < call; ++i) {
      std::vector<Record> ignored;
      Feed(*parser, wires[i], i, &ignored);
    }
    WireExchange unanswered = wires[call];
    unanswered.response.clear();
    Exchange ex = MakeExchange(unanswered, /*final=*/true, call);
    ex.closed_with_totals = closed;
    std::vector<Record> out;
    EXPECT_EQ(parser->Parse(ex, &out), ParseState::kOk) << unanswered.name;
    ASSERT_FALSE(out.empty()) << unanswered.name;
    for (const Record& r : out) {
      EXPECT_EQ(r.is_error, closed) << unanswered.name;
      EXPECT_EQ(r.error_type, closed ? "no_response" : "") << unanswered.name;
    }
  }
}

// Every cut prefix of a reportable exchange, not final and with totals saying more exists, must
// answer kNeedsMoreData and append nothing: cut responses (whole request), then cut requests
// (no response yet). Call it before feeding the whole exchange; it must leave no state behind.
// `response_whole_at`: where the answer really ends when out-of-band bytes follow it (a RESP3
// push after the reply); cuts from there on may complete.
inline void ExpectPrefixesNeedMoreData(ConnectionParser& parser, const WireExchange& wire,
                                       size_t response_whole_at = std::string::npos) {
  for (size_t cut = 0; cut < wire.response.size() && cut < response_whole_at; ++cut) {
    Exchange ex = MakeExchange(wire, /*final=*/false);
    ex.response = std::string_view(wire.response).substr(0, std::min(cut, kResponseCapture));
    ex.first_response_chunk_bytes = cut;
    std::vector<Record> out;
    EXPECT_EQ(parser.Parse(ex, &out), ParseState::kNeedsMoreData) << wire.name << " response cut at " << cut;
    EXPECT_TRUE(out.empty()) << wire.name << " response cut at " << cut;
  }
  for (size_t cut = 1; cut < wire.request.size(); ++cut) {
    Exchange ex = MakeExchange(wire, /*final=*/false);
    ex.request = std::string_view(wire.request).substr(0, cut);
    ex.response = {};
    ex.response_bytes = 0;
    ex.response_chunks = 0;
    std::vector<Record> out;
    EXPECT_EQ(parser.Parse(ex, &out), ParseState::kNeedsMoreData) << wire.name << " request cut at " << cut;
    EXPECT_TRUE(out.empty()) << wire.name << " request cut at " << cut;
  }
}

// Every string a record carries, joined, to search for leaked secrets.
inline std::string AllRecordText(const Record& r) {
  std::string text = r.protocol + "|" + r.span_name + "|" + r.error_type + "|";
  for (const auto& a : r.attributes) text += std::string(a.key) + "=" + a.value + "|";
  return text;
}

inline const SpanAttribute* FindAttribute(const Record& r, std::string_view key) {
  for (const auto& a : r.attributes) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

inline std::string AttributeOr(const Record& r, std::string_view key, std::string fallback = "") {
  const SpanAttribute* a = FindAttribute(r, key);
  return a != nullptr ? a->value : fallback;
}

// The value of the record's metric label with Prometheus name `key`, "" when absent.
inline std::string Label(const Record& r, std::string_view key) {
  return std::string(MetricLabel(r, key));
}

}  // namespace loupe::testing_fixture
