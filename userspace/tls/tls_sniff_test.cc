#include "userspace/tls/tls_sniff.h"

#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(LooksLikeTlsRecord, ClientHelloTls12And13) {
  // Record header of a ClientHello as curl (TLS 1.3, legacy version 3.1) and openssl s_client
  // -tls1_2 (3.1 or 3.3) send it, followed by the handshake type byte.
  EXPECT_TRUE(LooksLikeTlsRecord(Bytes({0x16, 0x03, 0x01, 0x02, 0x00, 0x01})));
  EXPECT_TRUE(LooksLikeTlsRecord(Bytes({0x16, 0x03, 0x03, 0x00, 0xf4, 0x01})));
}

TEST(LooksLikeTlsRecord, ApplicationDataRecord) {
  EXPECT_TRUE(LooksLikeTlsRecord(Bytes({0x17, 0x03, 0x03, 0x00, 0x35})));
}

TEST(LooksLikeTlsRecord, RejectsPlaintextProtocols) {
  EXPECT_FALSE(LooksLikeTlsRecord("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(LooksLikeTlsRecord("*1\r\n$4\r\nPING\r\n"));
  // PostgreSQL SSLRequest: length 8, code 80877103.
  EXPECT_FALSE(LooksLikeTlsRecord(Bytes({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})));
}

TEST(LooksLikeTlsRecord, RejectsBadVersionLengthAndShortInput) {
  EXPECT_FALSE(LooksLikeTlsRecord(Bytes({0x16, 0x02, 0x00, 0x00, 0x10})));
  EXPECT_FALSE(LooksLikeTlsRecord(Bytes({0x16, 0x03, 0x05, 0x00, 0x10})));
  EXPECT_FALSE(LooksLikeTlsRecord(Bytes({0x16, 0x03, 0x01, 0x00, 0x00})));
  EXPECT_FALSE(LooksLikeTlsRecord(Bytes({0x16, 0x03, 0x01, 0xff, 0xff})));
  EXPECT_FALSE(LooksLikeTlsRecord(Bytes({0x16, 0x03, 0x01, 0x00})));
  EXPECT_FALSE(LooksLikeTlsRecord(""));
}

}  // namespace
}  // namespace loupe
