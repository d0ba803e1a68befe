#include "userspace/loader/kernel_features.h"

#include <errno.h>

#include "gtest/gtest.h"

namespace loupe {
namespace {

FeatureProbeResult RefusedWith(KernelFeature feature, const char* step, int error) {
  FeatureProbeResult result;
  result.feature = feature;
  result.outcome = ProbeOutcome::kRefused;
  result.step = step;
  result.error = error;
  return result;
}

FeatureProbeResult AvailableFeature(KernelFeature feature) {
  FeatureProbeResult result;
  result.feature = feature;
  result.outcome = ProbeOutcome::kAvailable;
  return result;
}

HeldCapabilities AllOfThem() {
  HeldCapabilities held;
  held.bpf = held.perfmon = held.sys_admin = held.net_admin = true;
  held.sys_ptrace = held.dac_read_search = true;
  return held;
}

TEST(KernelFeaturesTest, EveryNameParsesBackToItsFeature) {
  for (KernelFeature feature : AllKernelFeatures()) {
    absl::StatusOr<KernelFeature> parsed = ParseKernelFeature(KernelFeatureName(feature));
    ASSERT_TRUE(parsed.ok()) << KernelFeatureName(feature);
    EXPECT_EQ(*parsed, feature);
  }
  EXPECT_EQ(AllKernelFeatures().size(), kKernelFeatureCount);
}

TEST(KernelFeaturesTest, UnknownNameListsTheKnownOnes) {
  absl::StatusOr<KernelFeature> parsed = ParseKernelFeature("map_iterator");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("map_elem_iterator"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("'map_iterator'"), std::string::npos);
}

TEST(KernelFeaturesTest, RefusalDescribesStepErrnoAndReason) {
  const FeatureProbeResult refused = RefusedWith(KernelFeature::kMapElemIterator, "load", EPERM);
  EXPECT_EQ(refused.Describe(), "refused at load: Operation not permitted (EPERM)");
  EXPECT_EQ(refused.Reason(), "EPERM");
  EXPECT_EQ(AvailableFeature(KernelFeature::kTpBtf).Reason(), "ok");
  FeatureProbeResult disabled;
  disabled.outcome = ProbeOutcome::kDisabled;
  EXPECT_EQ(disabled.Reason(), "disabled");
  EXPECT_EQ(ErrnoName(12345), "E12345");
}

TEST(KernelFeaturesTest, EpermWithoutSysAdminNamesTheCapabilityForUprobes) {
  HeldCapabilities held = AllOfThem();
  held.sys_admin = false;
  const KernelFeatures features = KernelFeatures::FromResults(
      {RefusedWith(KernelFeature::kUprobes, "attach", EPERM)}, held);
  EXPECT_NE(features.FixFor(KernelFeature::kUprobes).find("grant CAP_SYS_ADMIN"),
            std::string::npos);
}

TEST(KernelFeaturesTest, EpermWithEveryCapabilityHeldBlamesTheKernelNotTheUser) {
  const KernelFeatures features = KernelFeatures::FromResults(
      {RefusedWith(KernelFeature::kMapElemIterator, "load", EPERM)}, AllOfThem());
  const std::string fix = features.FixFor(KernelFeature::kMapElemIterator);
  EXPECT_EQ(fix.find("grant"), std::string::npos) << fix;
  EXPECT_NE(fix.find("kernel build or security policy"), std::string::npos) << fix;
}

TEST(KernelFeaturesTest, SocketProgramsNeedNetAdmin) {
  HeldCapabilities held = AllOfThem();
  held.net_admin = false;
  held.sys_admin = false;  // the kernel accepts it in place of CAP_NET_ADMIN
  const KernelFeatures features = KernelFeatures::FromResults(
      {RefusedWith(KernelFeature::kSockOps, "load", EPERM),
       RefusedWith(KernelFeature::kSkMsg, "load", EPERM)}, held);
  EXPECT_EQ(features.FixFor(KernelFeature::kSockOps).rfind("grant CAP_NET_ADMIN", 0), 0u);
  EXPECT_EQ(features.FixFor(KernelFeature::kSkMsg).rfind("grant CAP_NET_ADMIN", 0), 0u);
}

TEST(KernelFeaturesTest, OldKernelErrorsAskForANewerKernel) {
  const KernelFeatures features = KernelFeatures::FromResults(
      {RefusedWith(KernelFeature::kProcessExitProbe, "load", EINVAL)}, AllOfThem());
  EXPECT_NE(features.FixFor(KernelFeature::kProcessExitProbe).find("Linux 5.17"),
            std::string::npos);
}

TEST(KernelFeaturesTest, CanCaptureWithEitherSyscallHook) {
  const KernelFeatures raw_only = KernelFeatures::FromResults(
      {RefusedWith(KernelFeature::kTpBtf, "load", EPERM),
       AvailableFeature(KernelFeature::kRawTracepoint)}, AllOfThem());
  EXPECT_TRUE(raw_only.CanCapture());
  const KernelFeatures neither = KernelFeatures::FromResults(
      {RefusedWith(KernelFeature::kTpBtf, "load", EPERM),
       RefusedWith(KernelFeature::kRawTracepoint, "load", EPERM)}, AllOfThem());
  EXPECT_FALSE(neither.CanCapture());
}

TEST(KernelFeaturesTest, CoreCapabilitiesAreCheckedWhateverTheUid) {
  HeldCapabilities held;
  absl::Status status = CheckCoreCapabilities(held);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing CAP_BPF and CAP_PERFMON"), std::string::npos);
  held.sys_admin = true;  // stands in for both
  EXPECT_TRUE(CheckCoreCapabilities(held).ok());
  held = HeldCapabilities{};
  held.bpf = true;
  status = CheckCoreCapabilities(held);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing CAP_PERFMON"), std::string::npos);
}

TEST(KernelFeaturesTest, BtfCheckNamesAMissingOrUnreadableFile) {
  absl::Status missing = CheckKernelBtf("/nonexistent/vmlinux");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("kernel BTF not found at /nonexistent/vmlinux"),
            std::string::npos);
  absl::Status empty = CheckKernelBtf("/dev/null");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.message().find("cannot be read"), std::string::npos) << empty.message();
}

}  // namespace
}  // namespace loupe
