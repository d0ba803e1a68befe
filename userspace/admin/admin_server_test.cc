#include "userspace/admin/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "userspace/admin/health.h"
#include "userspace/admin/process_table.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kSec = 1'000'000'000;

// ---- HealthState ----------------------------------------------------------------------------

TEST(HealthStateTest, BeforeTheLoopStartsTheAgentIsLiveButNotReady) {
  HealthState health;
  EXPECT_TRUE(health.Live(5 * kSec));
  EXPECT_FALSE(health.Ready(5 * kSec));
  EXPECT_FALSE(health.Started());
  health.SetProbesAttached(true);
  EXPECT_FALSE(health.Ready(5 * kSec)) << "not started yet";
}

TEST(HealthStateTest, StartedWithoutHeartbeatIsNotLive) {
  HealthState health;
  health.SetStarted();
  EXPECT_TRUE(health.Started());
  EXPECT_FALSE(health.Live(5 * kSec)) << "started, but the loop never turned";
}

TEST(HealthStateTest, HeartbeatKeepsItLiveUntilStale) {
  HealthState health;
  health.SetStarted();
  health.SetProbesAttached(true);
  health.Heartbeat(100 * kSec);
  EXPECT_TRUE(health.Live(100 * kSec));
  EXPECT_TRUE(health.Ready(100 * kSec));
  EXPECT_TRUE(health.Live(100 * kSec + HealthState::kStaleAfterNs - 1));
  EXPECT_FALSE(health.Live(100 * kSec + HealthState::kStaleAfterNs));
  EXPECT_FALSE(health.Ready(100 * kSec + HealthState::kStaleAfterNs));
  health.Heartbeat(120 * kSec);
  EXPECT_TRUE(health.Ready(121 * kSec));
}

TEST(HealthStateTest, ReadyNeedsProbes) {
  HealthState health;
  health.SetStarted();
  health.Heartbeat(10 * kSec);
  EXPECT_FALSE(health.Ready(10 * kSec));
  health.SetProbesAttached(true);
  EXPECT_TRUE(health.Ready(10 * kSec));
  health.SetProbesAttached(false);  // shutting down
  EXPECT_FALSE(health.Ready(10 * kSec));
  EXPECT_TRUE(health.Live(10 * kSec));
}

TEST(HealthStateTest, DescribeIsJson) {
  HealthState health;
  EXPECT_EQ(health.Describe(7 * kSec),
            R"({"started":false,"probes_attached":false,"event_loop_age_seconds":-1,"degraded":[]})");
  health.SetStarted();
  health.SetProbesAttached(true);
  health.Heartbeat(5 * kSec);
  EXPECT_EQ(health.Describe(7 * kSec + kSec / 2),
            R"({"started":true,"probes_attached":true,"event_loop_age_seconds":2.5,"degraded":[]})");
}

TEST(HealthStateTest, DegradedStaysReadyAndListsEachFeatureOnce) {
  HealthState health;
  health.SetStarted();
  health.SetProbesAttached(true);
  health.Heartbeat(5 * kSec);
  health.AddDegradation({"uprobes", "HTTPS \"not\" parsed", "grant CAP_SYS_ADMIN"});
  health.AddDegradation({"uprobes", "again", "again"});
  EXPECT_TRUE(health.Ready(5 * kSec));
  EXPECT_EQ(health.degradations().size(), 1u);
  EXPECT_EQ(health.Describe(5 * kSec),
            R"({"started":true,"probes_attached":true,"event_loop_age_seconds":0,"degraded":[)"
            R"({"feature":"uprobes","effect":"HTTPS \"not\" parsed","fix":"grant CAP_SYS_ADMIN"}]})");
}

// ---- AdminServer ----------------------------------------------------------------------------

struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
};

// A minimal HTTP/1.1 GET over loopback; the server closes the connection after each reply.
HttpReply Get(int port, const std::string& path) {
  HttpReply reply;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return reply;
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return reply;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return reply;
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return reply;
  reply.head = raw.substr(0, end);
  reply.body = raw.substr(end + 4);
  if (raw.size() > 12) reply.status = std::atoi(raw.substr(9, 3).c_str());
  return reply;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    counter_ = &prometheus::BuildCounter()
                    .Name("loupe_test_requests_total")
                    .Help("test counter")
                    .Register(*registry_)
                    .Add({{"path", "x"}});
    counter_->Increment(3);
    auto server = AdminServer::Create("127.0.0.1:0", registry_, &health_, &clock_,
                                      [this] { scrapes_.fetch_add(1); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* counter_ = nullptr;
  FakeClock clock_{/*monotonic_ns=*/100 * kSec};
  HealthState health_;
  std::atomic<int> scrapes_{0};
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, MetricsServesTheRegistryText) {
  HttpReply reply = Get(server_->port(), "/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_THAT(reply.head, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(reply.body, HasSubstr("# TYPE loupe_test_requests_total counter"));
  EXPECT_THAT(reply.body, HasSubstr("loupe_test_requests_total{path=\"x\"} 3"));
  EXPECT_EQ(scrapes_.load(), 1) << "before_scrape runs once per scrape";

  counter_->Increment();
  reply = Get(server_->port(), "/metrics");
  EXPECT_THAT(reply.body, HasSubstr("loupe_test_requests_total{path=\"x\"} 4"));
  EXPECT_EQ(scrapes_.load(), 2);
  // Content-Length matches the body.
  EXPECT_THAT(reply.head, HasSubstr(absl::StrCat("Content-Length: ", reply.body.size())));
}

TEST_F(AdminServerTest, HealthEndpointsFollowTheState) {
  // Starting up: live, not ready, not started.
  EXPECT_EQ(Get(server_->port(), "/health/live").status, 200);
  HttpReply ready = Get(server_->port(), "/health/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.head, HasSubstr("Content-Type: application/json"));
  EXPECT_THAT(ready.body, StartsWith(R"({"status":"unavailable","detail":{"started":false)"));
  EXPECT_EQ(Get(server_->port(), "/health/startup").status, 503);

  // Running.
  health_.SetProbesAttached(true);
  health_.SetStarted();
  health_.Heartbeat(clock_.MonotonicNs());
  EXPECT_EQ(Get(server_->port(), "/health/live").status, 200);
  ready = Get(server_->port(), "/health/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_THAT(ready.body, StartsWith(R"({"status":"ok","detail":{"started":true)"));
  EXPECT_EQ(Get(server_->port(), "/health/startup").status, 200);

  // Degraded: still ready (200), but the status says so.
  health_.AddDegradation({"uprobes", "HTTPS not parsed", "grant CAP_SYS_ADMIN"});
  ready = Get(server_->port(), "/health/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_THAT(ready.body, StartsWith(R"({"status":"degraded","detail":{"started":true)"));
  EXPECT_THAT(ready.body, HasSubstr(R"("degraded":[{"feature":"uprobes")"));

  // The event loop stalled: neither live nor ready, still started.
  clock_.Advance(HealthState::kStaleAfterNs);
  EXPECT_EQ(Get(server_->port(), "/health/live").status, 503);
  EXPECT_EQ(Get(server_->port(), "/health/ready").status, 503);
  EXPECT_EQ(Get(server_->port(), "/health/startup").status, 200);
}

TEST_F(AdminServerTest, SecondServerOnTheSamePortFailsNamingTheAddress) {
  const std::string address = absl::StrCat("127.0.0.1:", server_->port());
  auto second = AdminServer::Create(address, registry_, &health_, &clock_, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(address));
  // The first server is unaffected.
  EXPECT_EQ(Get(server_->port(), "/metrics").status, 200);
}

TEST_F(AdminServerTest, NullBeforeScrapeIsAllowed) {
  HealthState health;
  auto other = AdminServer::Create("127.0.0.1:0", registry_, &health, &clock_, nullptr);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE((*other)->port(), server_->port());
  EXPECT_EQ(Get((*other)->port(), "/metrics").status, 200);
}

TEST_F(AdminServerTest, StatusServesThePublishedProcessTable) {
  EXPECT_EQ(Get(server_->port(), "/status").status, 404) << "no table given: no /status";

  ProcessTable processes(ProcessTableOptions{}, [](uint32_t) { return true; });
  auto resource = std::make_shared<ProcessResource>();
  resource->pid = 42;
  resource->service_name = "checkout";
  processes.OnExchangeCounted(resource, "http1");
  HealthState health;
  auto with_status = AdminServer::Create("127.0.0.1:0", registry_, &health, &clock_, nullptr,
                                         &processes);
  ASSERT_TRUE(with_status.ok()) << with_status.status();
  const int port = (*with_status)->port();
  HttpReply reply = Get(port, "/status");
  EXPECT_EQ(reply.status, 200);
  EXPECT_THAT(reply.head, HasSubstr("Content-Type: application/json"));
  EXPECT_THAT(reply.body, StartsWith(R"({"processes":[],)")) << "nothing published yet";

  processes.Publish();
  reply = Get(port, "/status");
  EXPECT_THAT(reply.body,
              HasSubstr(R"({"pid":42,"service_name":"checkout","service_namespace":"",)"));
  EXPECT_THAT(reply.body, HasSubstr(R"("protocols":["http1"],"exchanges":1,)"));
}

TEST_F(AdminServerTest, StopsListeningWhenDestroyed) {
  const int port = server_->port();
  server_.reset();
  EXPECT_EQ(Get(port, "/metrics").status, 0) << "nothing answers on a destroyed server's port";
}

}  // namespace
}  // namespace loupe
