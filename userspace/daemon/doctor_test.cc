#include "userspace/daemon/doctor.h"

#include <errno.h>

#include <sstream>

#include "gtest/gtest.h"

namespace loupe {
namespace {

FeatureProbeResult Result(KernelFeature feature, ProbeOutcome outcome, int error = 0) {
  FeatureProbeResult result;
  result.feature = feature;
  result.outcome = outcome;
  result.error = error;
  result.step = "load";
  return result;
}

HeldCapabilities Held() {
  HeldCapabilities held;
  held.bpf = held.perfmon = held.net_admin = held.sys_ptrace = held.dac_read_search = true;
  return held;
}

TEST(DoctorTest, DegradedHostRunsAndSaysWhatToChange) {
  std::vector<FeatureProbeResult> results;
  for (KernelFeature feature : AllKernelFeatures()) {
    results.push_back(Result(feature, ProbeOutcome::kAvailable));
  }
  results[static_cast<size_t>(KernelFeature::kUprobes)] =
      Result(KernelFeature::kUprobes, ProbeOutcome::kRefused, EPERM);
  results[static_cast<size_t>(KernelFeature::kMapElemIterator)] =
      Result(KernelFeature::kMapElemIterator, ProbeOutcome::kRefused, EPERM);
  const KernelFeatures features = KernelFeatures::FromResults(results, Held());
  std::ostringstream out;
  EXPECT_EQ(PrintDoctorReport(features, absl::OkStatus(), "6.18", out), 0);
  const std::string text = out.str();
  EXPECT_NE(text.find("uprobes: refused at load: Operation not permitted (EPERM)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("grant CAP_SYS_ADMIN"), std::string::npos) << text;
  EXPECT_NE(text.find("Loupe runs here, degraded"), std::string::npos) << text;
  EXPECT_NE(text.find("--metrics_only: available (timeout pass: triggered map walk)"),
            std::string::npos) << text;
}

TEST(DoctorTest, NoSyscallHookMeansItCannotRun) {
  const KernelFeatures features = KernelFeatures::FromResults(
      {Result(KernelFeature::kTpBtf, ProbeOutcome::kRefused, EPERM),
       Result(KernelFeature::kRawTracepoint, ProbeOutcome::kRefused, EPERM)}, Held());
  std::ostringstream out;
  EXPECT_EQ(PrintDoctorReport(features, absl::OkStatus(), "6.18", out), 1);
  EXPECT_NE(out.str().find("verdict: Loupe cannot run here"), std::string::npos) << out.str();
}

TEST(DoctorTest, UnreadableBtfMeansItCannotRun) {
  const KernelFeatures features = KernelFeatures::FromResults(
      {Result(KernelFeature::kTpBtf, ProbeOutcome::kAvailable)}, Held());
  std::ostringstream out;
  EXPECT_EQ(PrintDoctorReport(features, absl::FailedPreconditionError("kernel BTF at x cannot be read"),
                              "6.18", out),
            1);
  EXPECT_NE(out.str().find("kernel BTF at x cannot be read"), std::string::npos);
}

}  // namespace
}  // namespace loupe
