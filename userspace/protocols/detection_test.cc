// Cross-detection: every protocol's captured fixtures are shown to every registered detector.
// A protocol must claim its own first exchanges (kYes) and no detector may claim another
// protocol's bytes. Iterates AllProtocols(), so new protocols are covered without edits here.
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "userspace/protocols/registry.h"
#include "userspace/protocols/sql/wire_fixture.h"

namespace loupe {
namespace {

using namespace std::string_literals;

using testing_fixture::FixtureRoot;
using testing_fixture::LoadConversation;
using testing_fixture::MakeExchange;
using testing_fixture::ReadFileBytes;
using testing_fixture::WireExchange;

struct Conversation {
  std::string protocol;  // the folder name under tests/fixtures: a protocol name
  std::vector<WireExchange> exchanges;
  bool first_is_start = true;  // exchange 0 opens the connection
};

// Two fixture layouts: <dir>/NN.req + NN.resp (a whole conversation), or NAME.request +
// NAME.response (one exchange each, as the http1 fixtures are).
std::vector<Conversation> AllConversations() {
  std::vector<Conversation> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureRoot(), ec)) {
    if (!entry.is_directory()) continue;
    const std::string protocol = entry.path().filename().string();
    for (const std::string& dir : testing_fixture::ListConversations(protocol)) {
      out.push_back({protocol, LoadConversation(dir), true});
    }
    for (const auto& file : std::filesystem::directory_iterator(entry.path(), ec)) {
      if (file.path().extension() != ".request") continue;
      std::filesystem::path response = file.path();
      response.replace_extension(".response");
      out.push_back({protocol,
                     {{protocol + "/" + file.path().filename().string(), ReadFileBytes(file.path()),
                       ReadFileBytes(response)}},
                     true});
    }
  }
  return out;
}

// A port no detector treats as a hint, so that only byte structure speaks.
ConnectionInfo NeutralConn() {
  ConnectionInfo conn;
  conn.role = Role::kClient;
  conn.server_address = "127.0.0.1";
  conn.server_port = 40001;
  return conn;
}

TEST(CrossDetection, FixturesExistForEveryDatabaseProtocol) {
  const std::vector<Conversation> all = AllConversations();
  for (const char* protocol : {"postgresql", "mysql", "redis", "memcached"}) {
    size_t n = 0;
    for (const auto& c : all) n += c.protocol == protocol ? 1 : 0;
    EXPECT_GT(n, 0u) << protocol;
  }
}

TEST(CrossDetection, EachProtocolClaimsItsOwnFirstExchanges) {
  for (const Conversation& c : AllConversations()) {
    for (const auto& protocol : AllProtocols()) {
      if (protocol->name() != c.protocol || c.exchanges.empty()) continue;
      EXPECT_EQ(protocol->Detect(MakeExchange(c.exchanges[0], false), NeutralConn()), Detection::kYes)
          << c.exchanges[0].name;
    }
  }
}

TEST(CrossDetection, NoDetectorClaimsAnotherProtocolsBytes) {
  size_t checked = 0;
  for (const Conversation& c : AllConversations()) {
    for (size_t i = 0; i < c.exchanges.size(); ++i) {
      const Exchange ex = MakeExchange(c.exchanges[i], false, i);
      for (const auto& protocol : AllProtocols()) {
        if (protocol->name() == c.protocol) continue;
        const Detection d = protocol->Detect(ex, NeutralConn());
        // Mid-connection bytes of another protocol must never be claimed; a connection's first
        // exchange must not even be a "maybe" for the wrong protocol.
        EXPECT_NE(d, Detection::kYes) << protocol->name() << " claimed " << c.exchanges[i].name;
        if (i == 0) {
          EXPECT_EQ(d, Detection::kNo) << protocol->name() << " on " << c.exchanges[i].name;
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100u);
}

TEST(CrossDetection, TlsAndHttpAreNotDatabases) {
  const std::vector<WireExchange> samples = {
      {"tls_client_hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s, ""},
      {"tls_with_reply", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s,
       "\x16\x03\x03\x00\x7a\x02\x00\x00\x76"s},
      {"http_get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"http_get_no_reply", "GET /users/1 HTTP/1.1\r\n", ""},
  };
  for (const auto& wire : samples) {
    for (const auto& protocol : AllProtocols()) {
      if (protocol->name() == "http1") continue;
      EXPECT_EQ(protocol->Detect(MakeExchange(wire, false), NeutralConn()), Detection::kNo)
          << protocol->name() << " on " << wire.name;
    }
  }
}

}  // namespace
}  // namespace loupe
