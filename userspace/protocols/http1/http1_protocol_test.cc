#include "userspace/protocols/http1/http1_protocol.h"

#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(LOUPE_HTTP1_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Fixture {
  std::string request;
  std::string response;
};

Fixture LoadFixture(const std::string& name) {
  return Fixture{ReadFixture(name + ".request"), ReadFixture(name + ".response")};
}

// An exchange whose prefixes hold every byte the totals count, as for small messages.
Exchange WholeExchange(std::string_view request, std::string_view response, Role role,
                       bool final = false) {
  Exchange ex;
  ex.role = role;
  ex.request = request;
  ex.response = response;
  ex.request_bytes = request.size();
  ex.response_bytes = response.size();
  ex.response_chunks = response.empty() ? 0 : 1;
  ex.first_response_chunk_bytes = response.size();
  ex.request_start_ns = 1000;
  ex.request_end_ns = 1100;
  ex.response_start_ns = 1500;
  ex.response_end_ns = 2000;
  ex.final = final;
  return ex;
}

ConnectionInfo Conn(Role role) {
  ConnectionInfo conn;
  conn.role = role;
  conn.server_address = "10.0.0.2";
  conn.server_port = 8080;
  conn.client_address = "10.0.0.1";
  conn.client_port = 51234;
  conn.local_port = role == Role::kServer ? 8080 : 51234;
  conn.remote_port = role == Role::kServer ? 51234 : 8080;
  return conn;
}

class Http1Test : public testing::Test {
 protected:
  ParseState Parse(const Exchange& ex, std::vector<Record>* out, Role role = Role::kServer) {
    if (parser_ == nullptr) parser_ = protocol_->NewConnection(Conn(role));
    return parser_->Parse(ex, out);
  }

  std::unique_ptr<Protocol> protocol_ = MakeHttp1Protocol();
  std::unique_ptr<ConnectionParser> parser_;
};

std::optional<std::string> Attr(const Record& record, const std::string& key) {
  for (const auto& a : record.attributes) {
    if (a.key == key) return a.value;
  }
  return std::nullopt;
}

bool AttrIsInt(const Record& record, const std::string& key) {
  for (const auto& a : record.attributes) {
    if (a.key == key) return a.is_int;
  }
  return false;
}

// ---- Every fixture, server role: status, span name, error flag ----

struct FixtureCase {
  const char* name;
  int status;
  const char* span_name;
  bool is_error;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.name; }

class Http1FixtureTest : public Http1Test, public testing::WithParamInterface<FixtureCase> {};

TEST_P(Http1FixtureTest, WholeExchangeIsOneRecord) {
  const FixtureCase& c = GetParam();
  const Fixture f = LoadFixture(c.name);
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(f.request, f.response, Role::kServer), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  const Record& r = out[0];
  EXPECT_EQ(r.protocol, "http1");
  EXPECT_EQ(r.instrument, &instruments::kHttpServer);
  EXPECT_EQ(r.span_kind(), SpanKind::kServer);
  EXPECT_EQ(r.span_name, c.span_name);
  EXPECT_EQ(Attr(r, "http.response.status_code"), std::to_string(c.status));
  EXPECT_EQ(r.is_error, c.is_error);
  EXPECT_EQ(r.error_type, c.is_error ? std::to_string(c.status) : "");
  EXPECT_EQ(r.start_ns, 1000u);
  EXPECT_EQ(r.end_ns, 2000u);
  EXPECT_EQ(parser_->TakeUnreportedRequests(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, Http1FixtureTest,
    testing::Values(FixtureCase{"get_200", 200, "GET /users/{id}", false},
                    FixtureCase{"keepalive_1_0", 200, "GET /health", false},
                    FixtureCase{"chunked", 200, "GET /stream", false},
                    FixtureCase{"not_found", 404, "GET /missing/page", false},
                    FixtureCase{"server_error", 500, "DELETE /orders/{id}", true},
                    FixtureCase{"head", 200, "HEAD /files/report.pdf", false},
                    FixtureCase{"no_content", 204, "PUT /items/{id}", false},
                    FixtureCase{"not_modified", 304, "GET /static/app.js", false},
                    FixtureCase{"continue", 201, "POST /upload", false},
                    FixtureCase{"post_body", 401, "POST /api/v1/login", false},
                    FixtureCase{"traceparent", 200, "GET /traced", false},
                    FixtureCase{"query", 200, "GET /search", false}),
    [](const testing::TestParamInfo<FixtureCase>& info) { return info.param.name; });

const char* const kAllFixtures[] = {"get_200",      "keepalive_1_0", "chunked",   "not_found",
                                    "server_error", "head",          "no_content", "not_modified",
                                    "continue",     "post_body",     "pipelined", "traceparent",
                                    "query"};

// ---- Required properties ----

TEST_F(Http1Test, EveryTruncatedResponseNeedsMoreData) {
  for (const char* name : kAllFixtures) {
    const Fixture f = LoadFixture(name);
    for (size_t n = 0; n < f.response.size(); ++n) {
      const std::string_view cut = std::string_view(f.response).substr(0, n);
      std::vector<Record> out;
      auto parser = protocol_->NewConnection(Conn(Role::kServer));
      EXPECT_EQ(parser->Parse(WholeExchange(f.request, cut, Role::kServer), &out),
                ParseState::kNeedsMoreData)
          << name << " response cut at " << n;
      EXPECT_TRUE(out.empty());
    }
  }
}

TEST_F(Http1Test, EveryTruncatedRequestWithoutResponseNeedsMoreData) {
  for (const char* name : kAllFixtures) {
    const Fixture f = LoadFixture(name);
    for (size_t n = 0; n <= f.request.size(); ++n) {
      const std::string_view cut = std::string_view(f.request).substr(0, n);
      std::vector<Record> out;
      auto parser = protocol_->NewConnection(Conn(Role::kServer));
      EXPECT_EQ(parser->Parse(WholeExchange(cut, "", Role::kServer), &out),
                ParseState::kNeedsMoreData)
          << name << " request cut at " << n;
      EXPECT_TRUE(out.empty());
    }
  }
}

TEST_F(Http1Test, ResponsePrefixShorterThanTotalsNeedsMoreDataUntilComplete) {
  // The response head arrives in one write and the body in a later one.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  Exchange ex = WholeExchange("GET /big HTTP/1.1\r\nHost: a\r\n\r\n", head, Role::kServer);
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  EXPECT_TRUE(out.empty());

  ex.response_bytes = head.size() + 600;  // a second chunk, body still short
  ex.response_chunks = 2;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  EXPECT_TRUE(out.empty());

  ex.response_bytes = head.size() + 1000;
  ex.response_chunks = 3;
  ex.response_end_ns = 9000;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_ns, 9000u);
}

TEST_F(Http1Test, ChunkedResponseCutByPrefixWaitsForFinal) {
  const Fixture f = LoadFixture("chunked");
  Exchange ex = WholeExchange(f.request, std::string_view(f.response).substr(0, 60),
                              Role::kServer);
  ex.response_bytes = f.response.size() + 4096;  // more chunks followed in later writes
  ex.response_chunks = 4;
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  ex.final = true;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Attr(out[0], "http.response.status_code"), "200");
}

TEST_F(Http1Test, ReadUntilCloseResponseIsCompleteOnlyWhenFinal) {
  const std::string response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody";
  Exchange ex = WholeExchange("GET / HTTP/1.0\r\n\r\n", response, Role::kServer);
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  ex.final = true;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(Attr(out[0], "network.protocol.version"), "1.0");
}

TEST_F(Http1Test, ExtraBytesAfterDeclaredLengthAreNotComplete) {
  Exchange ex = WholeExchange("GET / HTTP/1.1\r\n\r\n",
                              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", Role::kServer);
  ex.response_bytes += 10;
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
}

// ---- Responses cut off by a close or a process exit ----

// An exchange whose connection closed (or whose process exited) with it in progress: final, and
// its byte totals are the kernel's last word.
Exchange ClosedExchange(std::string_view request, std::string_view response, Role role) {
  Exchange ex = WholeExchange(request, response, role, /*final=*/true);
  ex.closed_with_totals = true;
  return ex;
}

std::optional<std::string> Label(const Record& record, const std::string& key) {
  for (const auto& [k, v] : MetricLabels(record)) {
    if (k == key) return std::string(v);
  }
  return std::nullopt;
}

TEST_F(Http1Test, ResponseCutByCloseIsAnErrorWithItsStatus) {
  // The client read the head of a 615-byte page, then exited: the kernel's final totals say
  // the body never arrived.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 615\r\n\r\n";
  Exchange ex = ClosedExchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n", head, Role::kClient);
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out, Role::kClient), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].is_error);
  EXPECT_EQ(out[0].error_type, "response_cut");
  EXPECT_EQ(Label(out[0], "error_type"), "response_cut");
  EXPECT_EQ(Label(out[0], "http_response_status_code"), "200");
}

TEST_F(Http1Test, ResponseHeadCutByCloseIsCut) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Len";  // all the peer ever read
  Exchange ex = ClosedExchange("GET / HTTP/1.1\r\n\r\n", head, Role::kClient);
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out, Role::kClient), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].error_type, "response_cut");

  // The same head cut only by the capture prefix, with more bytes read: not known to be cut.
  parser_.reset();
  ex.response_bytes = 4000;
  ex.response_chunks = 2;
  out.clear();
  ASSERT_EQ(Parse(ex, &out, Role::kClient), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].is_error);
}

TEST_F(Http1Test, RequestWithoutResponseAtCloseIsNoResponse) {
  Exchange ex = ClosedExchange("POST /pay HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "",
                               Role::kClient);
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out, Role::kClient), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].is_error);
  EXPECT_EQ(out[0].error_type, "no_response");
  EXPECT_EQ(Label(out[0], "http_response_status_code"), "");
  EXPECT_EQ(Label(out[0], "error_type"), "no_response");
}

TEST_F(Http1Test, ResponseWholeAtCloseIsNotCut) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const std::string first_read = response.substr(0, 20);
  Exchange ex = ClosedExchange("GET / HTTP/1.1\r\n\r\n", first_read, Role::kClient);
  ex.response_bytes = response.size();  // the rest came in a second read
  ex.response_chunks = 2;
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out, Role::kClient), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].is_error);
  EXPECT_EQ(Label(out[0], "error_type"), "");
}

TEST_F(Http1Test, ShortResponseWithoutFinalTotalsIsNotCalledCut) {
  // Finalized by timeout (or the connection moved on): the totals may be stale, so a short
  // count is not evidence of a cut.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 615\r\n\r\n";
  Exchange ex = WholeExchange("GET / HTTP/1.1\r\n\r\n", head, Role::kClient);
  ex.final = true;
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out, Role::kClient), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].is_error);
}

TEST_F(Http1Test, CutServerErrorKeepsOneErrorType) {
  const std::string head = "HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\n";
  Exchange ex = ClosedExchange("GET / HTTP/1.1\r\n\r\n", head, Role::kServer);
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].error_type, "response_cut");
  EXPECT_EQ(Label(out[0], "http_response_status_code"), "503");
}

// ---- Garbage ----

TEST_F(Http1Test, RandomBytesAreInvalidAndNotDetected) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 500; ++i) {
    std::string junk(1 + rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    const Exchange ex =
        WholeExchange(junk, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Role::kServer, true);
    auto parser = protocol_->NewConnection(Conn(Role::kServer));
    std::vector<Record> out;
    EXPECT_EQ(parser->Parse(ex, &out), ParseState::kInvalid) << i;
    EXPECT_TRUE(out.empty());
    const Exchange both = WholeExchange(junk, junk, Role::kServer, true);
    EXPECT_EQ(protocol_->Detect(both, Conn(Role::kServer)), Detection::kNo) << i;
  }
}

// Wire bytes of other protocols a connection might carry.
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);  // keeps embedded NULs, drops the terminator
}
// TLS 1.2 ClientHello record header, handshake header, version, start of the random.
constexpr char kTlsClientHelloBytes[] =
    "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
    "\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x00"
    "\x00\x20\xcc\xa8\xcc\xa9\xc0\x2f\xc0\x30";
const std::string kTlsClientHello = Bytes(kTlsClientHelloBytes);
const std::string kRedisResp = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
const std::string kRedisInline = "GET key\r\n";
const std::string kRedisReply = "$5\r\nvalue\r\n";
const std::string kMemcachedGet = "get key\r\n";
const std::string kMemcachedReply = "VALUE key 0 5\r\nvalue\r\nEND\r\n";
// PostgreSQL StartupMessage: length 30, protocol 3.0, "user\0app\0database\0db\0\0".
constexpr char kPgStartupBytes[] =
    "\x00\x00\x00\x1e\x00\x03\x00\x00user\x00" "app\x00" "database\x00" "db\x00\x00";
const std::string kPgStartup = Bytes(kPgStartupBytes);
// PostgreSQL AuthenticationOk.
constexpr char kPgAuthOkBytes[] = "R\x00\x00\x00\x08\x00\x00\x00\x00";
// MySQL COM_QUERY "SELECT 1" after the handshake, and a column-count reply.
constexpr char kMysqlQueryBytes[] = "\x09\x00\x00\x00\x03SELECT 1";
constexpr char kMysqlReplyBytes[] = "\x01\x00\x00\x01\x01";

struct ForeignCase {
  const char* name;
  std::string request;
  std::string response;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const ForeignCase& c, std::ostream* os) { *os << c.name; }

class Http1ForeignTest : public Http1Test, public testing::WithParamInterface<ForeignCase> {};

TEST_P(Http1ForeignTest, IsNotClaimed) {
  const ForeignCase& c = GetParam();
  const Exchange ex = WholeExchange(c.request, c.response, Role::kServer, /*final=*/true);
  EXPECT_EQ(protocol_->Detect(ex, Conn(Role::kServer)), Detection::kNo);
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kInvalid);
  EXPECT_TRUE(out.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Foreign, Http1ForeignTest,
    testing::Values(ForeignCase{"tls_client_hello", kTlsClientHello, ""},
                    ForeignCase{"redis_resp", kRedisResp, kRedisReply},
                    ForeignCase{"redis_inline", kRedisInline, kRedisReply},
                    ForeignCase{"memcached", kMemcachedGet, kMemcachedReply},
                    ForeignCase{"postgres_startup", kPgStartup, Bytes(kPgAuthOkBytes)},
                    ForeignCase{"mysql_query", Bytes(kMysqlQueryBytes), Bytes(kMysqlReplyBytes)}),
    [](const testing::TestParamInfo<ForeignCase>& info) { return info.param.name; });

// ---- Detection ----

TEST_F(Http1Test, DetectsEveryFixture) {
  for (const char* name : kAllFixtures) {
    const Fixture f = LoadFixture(name);
    EXPECT_EQ(protocol_->Detect(WholeExchange(f.request, f.response, Role::kServer),
                                Conn(Role::kServer)),
              Detection::kYes)
        << name;
    EXPECT_EQ(protocol_->Detect(WholeExchange(f.request, "", Role::kClient), Conn(Role::kClient)),
              Detection::kYes)
        << name;
  }
}

TEST_F(Http1Test, DetectionOfCutAndPartialInput) {
  const ConnectionInfo conn = Conn(Role::kServer);
  const std::string long_target = "GET /" + std::string(2000, 'a');
  EXPECT_EQ(protocol_->Detect(WholeExchange(long_target, "", Role::kServer), conn),
            Detection::kMaybe);
  EXPECT_EQ(protocol_->Detect(WholeExchange("POST ", "", Role::kServer), conn), Detection::kMaybe);
  // A cut request line answered by an HTTP/1.x status line.
  EXPECT_EQ(protocol_->Detect(WholeExchange(long_target, "HTTP/1.1 414 URI Too Long\r\n",
                                            Role::kServer),
                              conn),
            Detection::kYes);
  // Only the response is known.
  EXPECT_EQ(protocol_->Detect(WholeExchange("", "HTTP/1.1 200 OK\r\n", Role::kClient), conn),
            Detection::kYes);
  EXPECT_EQ(protocol_->Detect(WholeExchange("", "", Role::kClient), conn), Detection::kNo);
  EXPECT_EQ(protocol_->Detect(WholeExchange("get /a HTTP/1.1\r\n\r\n", "", Role::kServer), conn),
            Detection::kNo);
  EXPECT_EQ(protocol_->Detect(WholeExchange("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "", Role::kServer),
                              conn),
            Detection::kNo);
  EXPECT_EQ(protocol_->Detect(WholeExchange("GET /a HTTP/1.1", "", Role::kServer), conn),
            Detection::kYes);
}

// ---- Record contents ----

TEST_F(Http1Test, ServerRecordAttributesAndLabels) {
  const Fixture f = LoadFixture("get_200");
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(f.request, f.response, Role::kServer), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  const Record& r = out[0];
  EXPECT_THAT(MetricLabels(r), ElementsAre(Pair("http_request_method", "GET"),
                                           Pair("http_response_status_code", "200"),
                                           Pair("http_route", "/users/{id}"),
                                           Pair("server_port", "8080"),
                                           Pair("error_type", "")));
  EXPECT_EQ(Attr(r, "http.request.method"), "GET");
  EXPECT_EQ(Attr(r, "http.route"), "/users/{id}");
  EXPECT_EQ(Attr(r, "url.path"), "/users/42");
  EXPECT_EQ(Attr(r, "url.scheme"), "http");
  EXPECT_EQ(Attr(r, "url.query"), std::nullopt);
  EXPECT_EQ(Attr(r, "server.address"), "api.example.com");
  EXPECT_EQ(Attr(r, "server.port"), "8080");
  EXPECT_TRUE(AttrIsInt(r, "server.port"));
  EXPECT_TRUE(AttrIsInt(r, "http.response.status_code"));
  EXPECT_EQ(Attr(r, "client.address"), "10.0.0.1");
  EXPECT_EQ(Attr(r, "network.peer.address"), "10.0.0.1");
  EXPECT_EQ(Attr(r, "network.peer.port"), "51234");
  EXPECT_EQ(Attr(r, "network.protocol.version"), "1.1");
  EXPECT_EQ(Attr(r, "user_agent.original"), "curl/8.0");
  EXPECT_FALSE(r.incoming_context.has_value());
  for (const auto& a : r.attributes) {
    EXPECT_EQ(a.value.find("secret"), std::string::npos) << a.key;
  }
}

TEST_F(Http1Test, ClientRecord) {
  const Fixture f = LoadFixture("not_found");
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(f.request, f.response, Role::kClient), &out, Role::kClient),
            ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  const Record& r = out[0];
  EXPECT_EQ(r.instrument, &instruments::kHttpClient);
  EXPECT_EQ(r.span_kind(), SpanKind::kClient);
  EXPECT_EQ(r.span_name, "GET");
  EXPECT_TRUE(r.is_error);  // >= 400 is an error for a client
  EXPECT_EQ(r.error_type, "404");
  EXPECT_THAT(MetricLabels(r), ElementsAre(Pair("http_request_method", "GET"),
                                           Pair("http_response_status_code", "404"),
                                           Pair("server_address", "a"),
                                           Pair("server_port", "8080"),
                                           Pair("error_type", "404")));
  EXPECT_EQ(Attr(r, "http.route"), std::nullopt);
  EXPECT_EQ(Attr(r, "client.address"), std::nullopt);
  EXPECT_EQ(Attr(r, "network.peer.address"), "10.0.0.2");
  EXPECT_EQ(Attr(r, "network.peer.port"), "8080");
}

TEST_F(Http1Test, ClientServerAddressFallsBackToConnectionAndStripsPort) {
  std::vector<Record> out;
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(Parse(WholeExchange("GET / HTTP/1.0\r\n\r\n", ok, Role::kClient), &out,
                  Role::kClient),
            ParseState::kOk);
  ASSERT_EQ(Parse(WholeExchange("GET / HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n", ok, Role::kClient),
                  &out, Role::kClient),
            ParseState::kOk);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Attr(out[0], "server.address"), "10.0.0.2");
  EXPECT_EQ(Attr(out[1], "server.address"), "::1");
}

TEST_F(Http1Test, UnknownMethodBecomesOther) {
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange("PROPFIND /dav/7 HTTP/1.1\r\nHost: a\r\n\r\n",
                                "HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n",
                                Role::kServer),
                  &out),
            ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "HTTP /dav/{id}");
  EXPECT_EQ(Attr(out[0], "http.request.method"), "_OTHER");
  EXPECT_EQ(Attr(out[0], "http.request.method_original"), "PROPFIND");
  EXPECT_EQ(MetricLabels(out[0])[0].first, "http_request_method");
  EXPECT_EQ(MetricLabels(out[0])[0].second, "_OTHER");
}

TEST_F(Http1Test, QueryStringNeverExported) {
  const Fixture f = LoadFixture("query");
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(f.request, f.response, Role::kServer), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Attr(out[0], "url.path"), "/search");
  for (const auto& a : out[0].attributes) {
    EXPECT_EQ(a.value.find("hunter2"), std::string::npos) << a.key;
    EXPECT_EQ(a.value.find("page"), std::string::npos) << a.key;
  }
  for (const auto& l : MetricLabels(out[0])) {
    EXPECT_EQ(l.second.find("hunter2"), std::string::npos) << l.first;
  }
}

TEST_F(Http1Test, NonPrintableBytesAreEscaped) {
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange("GET /caf\xc3\xa9 HTTP/1.1\r\nUser-Agent: x\xffy\r\n\r\n",
                                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Role::kServer),
                  &out),
            ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Attr(out[0], "url.path"), "/caf%C3%A9");
  EXPECT_EQ(Attr(out[0], "user_agent.original"), "x%FFy");
  EXPECT_EQ(Attr(out[0], "http.route"), "/{id}");
}

TEST_F(Http1Test, AbsoluteFormTarget) {
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange("GET http://proxy.test:81/items/9?x=1 HTTP/1.1\r\n\r\n",
                                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Role::kServer),
                  &out),
            ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "GET /items/{id}");
  EXPECT_EQ(Attr(out[0], "url.path"), "/items/9");
  EXPECT_EQ(Attr(out[0], "server.address"), "proxy.test");
}

// ---- Trace context ----

TEST_F(Http1Test, ValidTraceparentBecomesIncomingContext) {
  const Fixture f = LoadFixture("traceparent");
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(f.request, f.response, Role::kServer), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].incoming_context.has_value());
  EXPECT_EQ(out[0].incoming_context->ToTraceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

class TraceparentHeaderTest : public Http1Test,
                              public testing::WithParamInterface<const char*> {};

TEST_P(TraceparentHeaderTest, InvalidValueIsIgnored) {
  const std::string request =
      std::string("GET / HTTP/1.1\r\nHost: a\r\n") + GetParam() + "\r\n\r\n";
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(request, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                                Role::kServer),
                  &out),
            ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].incoming_context.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, TraceparentHeaderTest,
    testing::Values(
        "traceparent: 00-00000000000000000000000000000000-0000000000000000-01",  // all zero
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",  // bad hex
        "traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
        "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  // uppercase
        // Two traceparent headers: the context is ambiguous.
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-01"));

// ---- Pipelining ----

TEST_F(Http1Test, PipelinedRequestsWithAllResponsesInPrefix) {
  const Fixture f = LoadFixture("pipelined");
  std::vector<Record> out;
  ASSERT_EQ(Parse(WholeExchange(f.request, f.response, Role::kServer), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].span_name, "GET /a");
  EXPECT_EQ(out[1].span_name, "GET /b/{id}");
  EXPECT_EQ(out[2].span_name, "POST /c");
  EXPECT_EQ(Attr(out[0], "http.response.status_code"), "200");
  EXPECT_EQ(Attr(out[1], "http.response.status_code"), "404");
  EXPECT_EQ(Attr(out[2], "http.response.status_code"), "201");
  EXPECT_EQ(parser_->TakeUnreportedRequests(), 0u);
}

TEST_F(Http1Test, PipelinedRequestsBeyondTheResponsePrefixAreCounted) {
  const Fixture f = LoadFixture("pipelined");
  // The server wrote each response separately: only the first is in the captured prefix.
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA";
  Exchange ex = WholeExchange(f.request, first, Role::kServer);
  ex.response_bytes = f.response.size();
  ex.response_chunks = 3;
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  EXPECT_TRUE(out.empty());
  ex.final = true;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "GET /a");
  EXPECT_EQ(parser_->TakeUnreportedRequests(), 2u);
  EXPECT_EQ(parser_->TakeUnreportedRequests(), 0u);
}

TEST_F(Http1Test, SecondRequestCutInsideItsMethodIsCounted) {
  Exchange ex = WholeExchange("GET /a HTTP/1.1\r\n\r\nGE",
                              "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Role::kServer);
  ex.request_bytes = 200;
  ex.final = true;
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(parser_->TakeUnreportedRequests(), 1u);
}

// ---- Cut requests ----

TEST_F(Http1Test, RequestCutInsideHeadersIsReported) {
  const std::string request = "POST /api/orders HTTP/1.1\r\nHost: shop\r\nCookie: aaaaaaaa";
  Exchange ex = WholeExchange(request, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                              Role::kServer);
  ex.request_bytes = 5000;
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "POST /api/orders");
  EXPECT_EQ(Attr(out[0], "server.address"), "shop");
}

TEST_F(Http1Test, RequestCutInsideTargetKeepsCompleteSegments) {
  const std::string request = "GET /api/items/12/" + std::string(1000, 'x');
  Exchange ex = WholeExchange(request, "HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n",
                              Role::kServer);
  ex.request_bytes = 4000;
  std::vector<Record> out;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].span_name, "GET /api/items/{id}/{...}");
  EXPECT_EQ(Attr(out[0], "network.protocol.version"), std::nullopt);
  EXPECT_EQ(Attr(out[0], "url.path")->size(), 256u);  // bounded
}

TEST_F(Http1Test, RequestCutBeforeTargetIsInvalidWhenFinal) {
  Exchange ex = WholeExchange("GET ", "", Role::kServer);
  ex.request_bytes = 3000;
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  ex.final = true;
  EXPECT_EQ(Parse(ex, &out), ParseState::kInvalid);
  EXPECT_TRUE(out.empty());
}

// ---- Final without a final status ----

TEST_F(Http1Test, FinalWithOnlyInterimResponseReportsWithoutStatus) {
  Exchange ex = WholeExchange("POST /up HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
                              "HTTP/1.1 100 Continue\r\n\r\n", Role::kServer);
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kNeedsMoreData);
  ex.final = true;
  ASSERT_EQ(Parse(ex, &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Attr(out[0], "http.response.status_code"), std::nullopt);
  EXPECT_FALSE(out[0].is_error);
  EXPECT_THAT(MetricLabels(out[0]), testing::Contains(Pair("http_response_status_code", "")));
}

TEST_F(Http1Test, FinalWithGarbageResponseIsInvalid) {
  Exchange ex = WholeExchange("GET / HTTP/1.1\r\n\r\n", "+OK\r\n", Role::kServer, true);
  std::vector<Record> out;
  EXPECT_EQ(Parse(ex, &out), ParseState::kInvalid);
}

}  // namespace
}  // namespace loupe

namespace loupe {
namespace {

// With no span consumer the parser fills only what metrics need.
TEST(Http1MetricsOnlyTest, NoSpanAttributesOrContextWhenSpansAreOff) {
  ConnectionInfo conn = Conn(Role::kServer);
  conn.span_attributes = false;
  auto parser = MakeHttp1Protocol()->NewConnection(conn);
  const std::string request =
      "GET /users/42?x=1 HTTP/1.1\r\nHost: a\r\n"
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
  const std::string response = "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n";
  std::vector<Record> out;
  ASSERT_EQ(parser->Parse(WholeExchange(request, response, Role::kServer), &out), ParseState::kOk);
  ASSERT_EQ(out.size(), 1u);
  // Only the attributes the labels read: no url.path, peer, user agent, ...
  std::vector<std::string_view> keys;
  for (const SpanAttribute& a : out[0].attributes) keys.push_back(a.key);
  EXPECT_THAT(keys, ElementsAre("http.request.method", "http.route", "http.response.status_code",
                                "server.port"));
  EXPECT_TRUE(out[0].span_name.empty());
  EXPECT_FALSE(out[0].incoming_context.has_value());
  EXPECT_TRUE(out[0].is_error);
  const std::vector<std::pair<std::string_view, std::string_view>> labels = {
      {"http_request_method", "GET"},
      {"http_response_status_code", "503"},
      {"http_route", "/users/{id}"},
      {"server_port", "8080"},
      {"error_type", "503"}};
  EXPECT_EQ(MetricLabels(out[0]), labels);
}

}  // namespace
}  // namespace loupe
