#include "userspace/process/process_selector.h"

#include <memory>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "userspace/config/config.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;

// A pod identity as the metadata source (k8s/) would fill it: the selector sees only this.
std::shared_ptr<const KubernetesIdentity> Pod(std::string ns, std::string kind, std::string name,
                                              std::vector<std::pair<std::string, std::string>>
                                                  labels = {}) {
  auto pod = std::make_shared<KubernetesIdentity>();
  pod->namespace_name = std::move(ns);
  pod->pod_name = name + "-7d4b9-x2k4p";
  pod->workload = {std::move(kind), std::move(name)};
  pod->container_id = "3f1c0a";
  pod->pod_labels = std::move(labels);
  return pod;
}

ProcessResource Process(std::string exe, std::shared_ptr<const KubernetesIdentity> pod = nullptr,
                        std::string container_id = "") {
  ProcessResource process;
  process.executable_name = std::move(exe);
  process.container_id = pod != nullptr ? pod->container_id : std::move(container_id);
  process.kubernetes = std::move(pod);
  return process;
}

SelectionConfig Parse(const std::string& yaml) {
  Config config;
  const absl::Status status = ApplyYaml(yaml, &config);
  EXPECT_TRUE(status.ok()) << status;
  return config.selection;
}

TEST(ProcessSelectorTest, DefaultsExcludeKubernetesOwnNamespacesOnly) {
  const ProcessSelector selector(SelectionConfig{}, {}, true);
  const SelectionDecision system = selector.Decide(Process("coredns", Pod("kube-system", "Deployment", "coredns")));
  EXPECT_FALSE(system.instrumented);
  EXPECT_TRUE(system.final);
  EXPECT_EQ(system.reason, "excluded by selection.exclude[0]: namespace \"kube-system\"");
  EXPECT_FALSE(
      selector.Decide(Process("x", Pod("kube-node-lease", "", "x"))).instrumented);

  const SelectionDecision shop = selector.Decide(Process("java", Pod("shop", "Deployment", "cart")));
  EXPECT_TRUE(shop.instrumented);
  EXPECT_EQ(shop.reason, "no rule excludes it");
  EXPECT_TRUE(selector.Decide(Process("nginx")).instrumented) << "a host process";
}

TEST(ProcessSelectorTest, ExcludeProcessesKeepsWorkingAsAnExecutableRule) {
  const ProcessSelector selector(SelectionConfig{}, {"sshd"}, false);
  const SelectionDecision sshd = selector.Decide(Process("sshd"));
  EXPECT_FALSE(sshd.instrumented);
  EXPECT_EQ(sshd.reason, "excluded by exclude_processes: executable \"sshd\"");
  EXPECT_TRUE(selector.Decide(Process("sshd-session")).instrumented) << "names match exactly";
}

TEST(ProcessSelectorTest, EveryFieldOfARuleMustMatch) {
  const ProcessSelector selector(Parse(R"(
selection:
  exclude:
    - namespaces: ["team-*"]
      pod_labels: {tier: "cache*", env: prod}
      executables: [redis-server]
)"),
                                 {}, true);
  const auto labels = std::vector<std::pair<std::string, std::string>>{
      {"tier", "cache-hot"}, {"env", "prod"}, {"other", "x"}};
  const SelectionDecision hit =
      selector.Decide(Process("redis-server", Pod("team-a", "StatefulSet", "redis", labels)));
  EXPECT_FALSE(hit.instrumented);
  EXPECT_EQ(hit.reason, "excluded by selection.exclude[0]: namespace \"team-a\", pod labels, "
                        "executable \"redis-server\"");
  EXPECT_TRUE(selector.Decide(Process("redis-server", Pod("other", "StatefulSet", "redis", labels)))
                  .instrumented);
  EXPECT_TRUE(selector.Decide(Process("redis-cli", Pod("team-a", "StatefulSet", "redis", labels)))
                  .instrumented);
  EXPECT_TRUE(selector
                  .Decide(Process("redis-server",
                                  Pod("team-a", "StatefulSet", "redis", {{"tier", "cache"}})))
                  .instrumented)
      << "env label missing";
  EXPECT_TRUE(selector.Decide(Process("redis-server")).instrumented)
      << "a host process has no namespace: a rule on namespaces cannot match it";
}

TEST(ProcessSelectorTest, WorkloadPatternsByNameOrKindAndName) {
  const ProcessSelector selector(Parse(R"(
selection:
  exclude:
    - workloads: ["Job/*"]
    - workloads: ["debug-*"]
)"),
                                 {}, true);
  const SelectionDecision job = selector.Decide(Process("python3", Pod("ci", "Job", "migrate")));
  EXPECT_FALSE(job.instrumented);
  EXPECT_EQ(job.reason, "excluded by selection.exclude[0]: workload \"Job/migrate\"");
  EXPECT_FALSE(
      selector.Decide(Process("sh", Pod("dev", "Deployment", "debug-shell"))).instrumented);
  EXPECT_TRUE(selector.Decide(Process("java", Pod("dev", "Deployment", "cart"))).instrumented);
  EXPECT_TRUE(selector.Decide(Process("pause", Pod("dev", "", ""))).instrumented)
      << "a bare pod has no workload";
}

TEST(ProcessSelectorTest, IncludeRulesSelectOnlyWhatTheyName) {
  const ProcessSelector selector(Parse(R"(
selection:
  include:
    - namespaces: [shop]
    - executables: ["python3*"]
)"),
                                 {}, true);
  const SelectionDecision shop = selector.Decide(Process("java", Pod("shop", "Deployment", "cart")));
  EXPECT_TRUE(shop.instrumented);
  EXPECT_EQ(shop.reason, "included by selection.include[0]: namespace \"shop\"");
  const SelectionDecision script = selector.Decide(Process("python3.11"));
  EXPECT_TRUE(script.instrumented);
  EXPECT_EQ(script.reason, "included by selection.include[1]: executable \"python3.11\"");
  const SelectionDecision other = selector.Decide(Process("nginx"));
  EXPECT_FALSE(other.instrumented);
  EXPECT_EQ(other.reason, "matches no selection.include rule");
  EXPECT_TRUE(other.final);
}

TEST(ProcessSelectorTest, ExcludeWinsOverInclude) {
  const ProcessSelector selector(Parse(R"(
selection:
  include: [{namespaces: ["*"]}]
)"),
                                 {}, true);
  EXPECT_FALSE(
      selector.Decide(Process("coredns", Pod("kube-system", "Deployment", "coredns"))).instrumented)
      << "the default exclude list still applies when only include is given";
}

TEST(ProcessSelectorTest, AContainerAwaitingItsPodIsDecidedProvisionally) {
  const ProcessSelector selector(SelectionConfig{}, {}, true);
  const SelectionDecision waiting = selector.Decide(Process("coredns", nullptr, "9a8b7c"));
  EXPECT_TRUE(waiting.instrumented);
  EXPECT_FALSE(waiting.final) << "kube-system may still be its namespace";
  EXPECT_TRUE(selector.Decide(Process("nginx")).final) << "a host process has no pod to wait for";

  const ProcessSelector without_directory(SelectionConfig{}, {}, false);
  EXPECT_TRUE(without_directory.Decide(Process("coredns", nullptr, "9a8b7c")).final)
      << "no pod directory: the identity never comes";

  const ProcessSelector executables_only(Parse("selection: {exclude: [{executables: [sshd]}]}\n"),
                                         {}, true);
  EXPECT_TRUE(executables_only.Decide(Process("coredns", nullptr, "9a8b7c")).final)
      << "no rule needs the pod";

  const ProcessSelector include_pods(Parse("selection: {include: [{namespaces: [shop]}]}\n"), {},
                                     true);
  const SelectionDecision pending = include_pods.Decide(Process("java", nullptr, "9a8b7c"));
  EXPECT_FALSE(pending.instrumented);
  EXPECT_FALSE(pending.final);
  EXPECT_THAT(pending.reason, HasSubstr("pod identity not known yet"));
}

TEST(ProcessSelectorTest, AnEmptyExcludeListInstrumentsEverything) {
  const ProcessSelector selector(Parse("selection: {exclude: []}\n"), {}, true);
  EXPECT_TRUE(selector.selects_everything());
  EXPECT_TRUE(
      selector.Decide(Process("coredns", Pod("kube-system", "Deployment", "coredns"))).instrumented);
  EXPECT_FALSE(ProcessSelector(SelectionConfig{}, {}, true).selects_everything());
}

TEST(ProcessSelectorTest, OnlyRulesThatCanExcludeAHostProcessMakeAStartScanUseful) {
  EXPECT_FALSE(ProcessSelector(SelectionConfig{}, {}, true).decides_host_processes())
      << "the default rules name namespaces only";
  EXPECT_TRUE(ProcessSelector(SelectionConfig{}, {"sshd"}, true).decides_host_processes());
  EXPECT_TRUE(ProcessSelector(Parse("selection: {include: [{namespaces: [shop]}]}\n"), {}, true)
                  .decides_host_processes());
}

TEST(GlobMatchesTest, ShellPatterns) {
  EXPECT_TRUE(GlobMatches("kube-*", "kube-system"));
  EXPECT_TRUE(GlobMatches("java", "java"));
  EXPECT_FALSE(GlobMatches("java", "javac"));
  EXPECT_TRUE(GlobMatches("python3.1[0-9]", "python3.11"));
  EXPECT_TRUE(GlobMatches("node?", "node1"));
}

}  // namespace
}  // namespace loupe
