#include "userspace/loader/preexisting_connections.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "gtest/gtest.h"

namespace loupe {
namespace {

// Lines as the kernel prints them (net/ipv4/tcp_ipv4.c, get_tcp4_sock), trimmed of the tail.
constexpr char kTcp4[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "1111 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 "
    "2222 1 0000000000000000 20 4 30 10 -1\n"
    "   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 "
    "3333 1 0000000000000000 20 4 30 10 -1\n"
    "   3: 0100007F:D000 0100007F:1F90 06 00000000:00000000 03:00000000 00000000     0        0 "
    "0 3 0000000000000000\n"
    "garbage line\n";

constexpr char kTcp6[] =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:0050 00000000000000000000000001000000:A000 01 "
    "00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000\n";

TEST(ProcNetTcpTest, ParsesEstablishedSocketsAndListeningPorts) {
  absl::flat_hash_map<uint64_t, ProcTcpSocket> established;
  std::vector<uint16_t> listening;
  ParseProcNetTcp(kTcp4, AF_INET, &established, &listening);
  EXPECT_EQ(listening, std::vector<uint16_t>({8080}));
  ASSERT_EQ(established.size(), 2u);  // TIME_WAIT (06) and garbage are skipped
  const ProcTcpSocket& server = established.at(2222);
  EXPECT_EQ(server.tuple.family, AF_INET);
  EXPECT_EQ(server.tuple.local_port, 8080);
  EXPECT_EQ(server.tuple.remote_port, 50000);
  in_addr loopback{};
  inet_pton(AF_INET, "127.0.0.1", &loopback);
  EXPECT_EQ(std::memcmp(server.tuple.local_addr, &loopback, 4), 0);
  EXPECT_EQ(std::memcmp(server.tuple.remote_addr, &loopback, 4), 0);
  EXPECT_EQ(established.at(3333).tuple.local_port, 50000);
}

TEST(ProcNetTcpTest, ParsesIpv6Words) {
  absl::flat_hash_map<uint64_t, ProcTcpSocket> established;
  std::vector<uint16_t> listening;
  ParseProcNetTcp(kTcp6, AF_INET6, &established, &listening);
  ASSERT_EQ(established.size(), 1u);
  const loupe_tuple& t = established.at(4444).tuple;
  in6_addr loopback{};
  inet_pton(AF_INET6, "::1", &loopback);
  EXPECT_EQ(std::memcmp(t.local_addr, &loopback, 16), 0);
  EXPECT_EQ(t.local_port, 80);
  EXPECT_EQ(t.remote_port, 0xA000);
}

TEST(ProcNetTcpTest, EmptyAndHeaderOnlyInputs) {
  absl::flat_hash_map<uint64_t, ProcTcpSocket> established;
  std::vector<uint16_t> listening;
  ParseProcNetTcp("", AF_INET, &established, &listening);
  ParseProcNetTcp("  sl local_address\n", AF_INET, &established, &listening);
  EXPECT_TRUE(established.empty());
  EXPECT_TRUE(listening.empty());
}

}  // namespace
}  // namespace loupe
