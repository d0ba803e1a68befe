// The real libcurl transport against sockets on 127.0.0.1 that refuse or never answer: a failed
// POST must say why (issue 20: every failure was reported as "last HTTP status 0").
#include "exporters/otlp/curl_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "exporters/otlp/retry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A TCP socket bound to a free port on 127.0.0.1, listening or not. Bound but not listening,
// connections to it are refused; listening, they are accepted by the kernel and never answered.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        (listening && listen(fd_, 8) != 0)) {
      ADD_FAILURE() << "cannot set up a loopback socket";
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~LoopbackSocket() {
    if (fd_ >= 0) close(fd_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/v1/traces"); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(CurlTransportTest, RefusedConnectionSaysSo) {
  LoopbackSocket closed(/*listening=*/false);
  auto transport = CurlTransport::Create();
  ASSERT_TRUE(transport.ok()) << transport.status();
  auto response = (*transport)->Post(closed.url(), "body", {}, absl::Seconds(5));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(),
              AllOf(HasSubstr(closed.url()), HasSubstr("Connection refused")));
  EXPECT_EQ(TransportFailureReason(response.status()), "connection");
}

TEST(CurlTransportTest, UnansweredRequestIsATimeout) {
  LoopbackSocket silent(/*listening=*/true);
  auto transport = CurlTransport::Create();
  ASSERT_TRUE(transport.ok()) << transport.status();
  auto response = (*transport)->Post(silent.url(), "body", {}, absl::Milliseconds(200));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(response.status().message(), HasSubstr("timed out"));
  EXPECT_EQ(TransportFailureReason(response.status()), "timeout");
}

TEST(CurlTransportTest, CredentialsInTheUrlAreNotRepeated) {
  LoopbackSocket closed(/*listening=*/false);
  std::string url = closed.url();
  url.replace(url.find("127.0.0.1"), 0, "user:hunter2@");
  auto transport = CurlTransport::Create();
  ASSERT_TRUE(transport.ok()) << transport.status();
  auto response = (*transport)->Post(url, "body", {}, absl::Seconds(5));
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(),
              AllOf(HasSubstr("Connection refused"), Not(HasSubstr("hunter2"))));
}

}  // namespace
}  // namespace loupe
