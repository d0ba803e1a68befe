#include "userspace/daemon/ps_command.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;

// A /status answer as the agent writes it (admin/process_table.cc): one Kubernetes pod, one
// host process with a gap, one known only by its comm.
constexpr const char* kStatus =
    R"({"processes":[)"
    R"({"pid":812,"service_name":"checkout","service_instance_id":"n1:812:77","executable":"python3",)"
    R"("comm":"","container_id":"3f2a","kubernetes":{"namespace":"shop","pod":"checkout-7d9f-x",)"
    R"("pod_uid":"u","container":"app","node":"n1","workload_kind":"Deployment",)"
    R"("workload_name":"checkout"},"protocols":["http1","postgresql"],"exchanges":1520,)"
    R"("instrumented":"yes","not_instrumented":[]},)"
    R"({"pid":901,"service_name":"psql","service_instance_id":"","executable":"psql","comm":"psql",)"
    R"("container_id":"","protocols":["postgresql"],"exchanges":3,"instrumented":"partly",)"
    R"("not_instrumented":[{"reason":"preexisting_connections_skipped","detail":"open before start",)"
    R"("count":1}]},)"
    R"({"pid":1000,"service_name":"","service_instance_id":"","executable":"","comm":"gateway",)"
    R"("container_id":"","protocols":[],"exchanges":0,"instrumented":"partly",)"
    R"("not_instrumented":[{"reason":"tls_not_visible","detail":"go_crypto_tls","count":1}]}],)"
    R"("max_processes":4096,"refused":0})";

TEST(PsCommandTest, ALinePerProcessInAlignedColumns) {
  absl::StatusOr<std::string> table = FormatProcessStatus(kStatus);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(*table,
            "PID   SERVICE    NAMESPACE/POD         WORKLOAD             PROTOCOLS         "
            "EXCHANGES  INSTRUMENTED  WHY NOT (ALL)\n"
            "812   checkout   shop/checkout-7d9f-x  Deployment/checkout  http1,postgresql  "
            "1520       yes\n"
            "901   psql       -                     -                    postgresql        "
            "3          partly        preexisting_connections_skipped (open before start)\n"
            "1000  [gateway]  -                     -                    -                 "
            "0          partly        tls_not_visible (go_crypto_tls)\n");
}

TEST(PsCommandTest, SaysWhenTheTableRefusedProcesses) {
  absl::StatusOr<std::string> table =
      FormatProcessStatus(R"({"processes":[],"max_processes":2,"refused":7})");
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(*table, HasSubstr("table full at 2 processes: 7 reports"));
}

TEST(PsCommandTest, SomethingElseIsRefused) {
  EXPECT_FALSE(FormatProcessStatus("<html>404</html>").ok());
  EXPECT_FALSE(FormatProcessStatus(R"({"status":"ok"})").ok());
}

TEST(PsCommandTest, BadArgumentsAreUsageErrorsAndNoAgentIsOne) {
  EXPECT_EQ(RunPsCommand({"--frobnicate"}), 2);
  EXPECT_EQ(RunPsCommand({"--address=nonsense"}), 2);
  EXPECT_EQ(RunPsCommand({"--address=127.0.0.1:1"}), 1) << "nothing listens on port 1";
}

}  // namespace
}  // namespace loupe
