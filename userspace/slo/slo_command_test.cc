#include "userspace/slo/slo_command.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunSlo(const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunSloCommand(args, out, err);
  return {code, out.str(), err.str()};
}

// Alert expressions of the rule file, keyed "<service>/<alert>/<severity>".
std::map<std::string, std::string> AlertExprs(const std::string& yaml) {
  std::map<std::string, std::string> exprs;
  for (const YAML::Node& group : YAML::Load(yaml)["groups"]) {
    const std::string name = group["name"].as<std::string>();
    for (const YAML::Node& rule : group["rules"]) {
      if (!rule["alert"]) continue;
      exprs[name + "/" + rule["alert"].as<std::string>() + "/" +
            rule["labels"]["severity"].as<std::string>()] = rule["expr"].as<std::string>();
    }
  }
  return exprs;
}

std::string WriteTemp(const std::string& content) {
  char path[] = "/tmp/loupe_slo_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << content;
  return path;
}

constexpr char kPage[] =
    "http_server_request_duration_seconds_count{service_name=\"cart\"} 4\n"
    "http_server_request_duration_seconds_count{service_name=\"checkout\"} 9\n";

TEST(RunSloCommandTest, HelpExitsZero) {
  Result r = RunSlo({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("--latency-threshold"));
}

TEST(RunSloCommandTest, OptionsAfterServiceApplyToThatServiceOnly) {
  Result r = RunSlo({"--availability", "0.99", "--service", "checkout", "--availability=0.9995",
                  "--latency-threshold", "0.25", "--service=cart"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  std::map<std::string, std::string> exprs = AlertExprs(r.out);
  EXPECT_THAT(exprs["loupe-slo-checkout-alerts/LoupeSloAvailabilityBurnRate/page"],
              HasSubstr("(1 - 0.9995)"));
  EXPECT_THAT(exprs["loupe-slo-cart-alerts/LoupeSloAvailabilityBurnRate/page"],
              HasSubstr("(1 - 0.99)"));
  EXPECT_THAT(exprs["loupe-slo-cart-alerts/LoupeSloLatencyBurnRate/page"],
              HasSubstr("(1 - 0.99)"));  // built-in latency default
  EXPECT_THAT(r.out, HasSubstr("service_name=\"checkout\",le=\"0.25\""));
  EXPECT_THAT(r.out, HasSubstr("service_name=\"cart\",le=\"0.5\""));
}

TEST(RunSloCommandTest, UsageErrorsExitTwoWithMessageOnStderr) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--bogus"},
      {"--service"},
      {"--service", "a", "--availability", "lots"},
      {"--service", "a", "--latency-threshold", "0.3"},
      {"--service", "a", "--availability", "1"},
      {"--service", "a", "--service", "a"},
      {"--from-metrics", "/nonexistent/loupe/metrics.txt"},
  };
  for (const auto& args : bad) {
    Result r = RunSlo(args);
    EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args);
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_THAT(r.err, HasSubstr("loupe slo: "));
  }
}

TEST(RunSloCommandTest, DiscoversServicesFromFileAndAppliesDefaults) {
  const std::string path = WriteTemp(kPage);
  Result r = RunSlo({"--latency", "0.95", "--from-metrics", path, "--service", "checkout",
                  "--latency", "0.999"});
  std::remove(path.c_str());
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::string> exprs = AlertExprs(r.out);
  EXPECT_EQ(exprs.size(), 8u);  // two services x two SLIs x page/ticket
  EXPECT_THAT(exprs["loupe-slo-cart-alerts/LoupeSloLatencyBurnRate/ticket"],
              HasSubstr("(1 - 0.95)"));
  // The explicit entry wins over the discovered one.
  EXPECT_THAT(exprs["loupe-slo-checkout-alerts/LoupeSloLatencyBurnRate/ticket"],
              HasSubstr("(1 - 0.999)"));
}

TEST(RunSloCommandTest, PageWithoutServicesIsAnError) {
  const std::string path = WriteTemp("loupe_build_info{version=\"1\"} 1\n");
  Result r = RunSlo({"--from", path});
  std::remove(path.c_str());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no http_server_request_duration_seconds_count"));
}

// Serves one HTTP response on 127.0.0.1 and returns the port.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, response = std::move(response)] {
      const int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      char buf[4096];
      std::string request;
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = read(conn, buf, sizeof(buf));
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      request_ = request;
      size_t off = 0;
      while (off < response.size()) {
        const ssize_t n = write(conn, response.data() + off, response.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      close(conn);
    });
  }
  ~OneShotServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  const std::string& request() const { return request_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

std::string HttpResponse(std::string_view status, std::string_view body) {
  return std::string("HTTP/1.1 ") + std::string(status) +
         "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

TEST(RunSloCommandTest, FetchesMetricsOverHttp) {
  OneShotServer server(HttpResponse("200 OK", kPage));
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics";
  Result r = RunSlo({"--from-metrics", url});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(AlertExprs(r.out).size(), 8u);
  EXPECT_THAT(r.out, HasSubstr("loupe-slo-cart-sli"));
}

TEST(RunSloCommandTest, HttpErrorStatusIsReported) {
  OneShotServer server(HttpResponse("503 Service Unavailable", "down"));
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics";
  Result r = RunSlo({"--from-metrics", url});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("503"));
}

}  // namespace
}  // namespace loupe
