#include "userspace/config/selection_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "userspace/config/config.h"

namespace loupe {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(SelectionConfigTest, DefaultsExcludeKubernetesOwnNamespaces) {
  const Config config;
  EXPECT_TRUE(config.selection.include.empty());
  ASSERT_EQ(config.selection.exclude.size(), 1u);
  EXPECT_THAT(config.selection.exclude[0].namespaces,
              ElementsAre("kube-system", "kube-public", "kube-node-lease"));
  EXPECT_TRUE(config.selection.include_ports.empty());
  EXPECT_TRUE(config.selection.exclude_ports.empty());
}

TEST(SelectionConfigTest, EveryFieldIsRead) {
  Config config;
  const absl::Status status = ApplyYaml(R"(
selection:
  include:
    - namespaces: [shop, "team-*"]
      pod_labels: {app.kubernetes.io/part-of: shop, tier: "web*"}
    - workloads: ["Deployment/cart", "checkout-*"]
  exclude:
    - executables: [sshd, "python3*"]
  include_ports: [80, 8080]
  exclude_ports: [22]
)",
                                        &config);
  ASSERT_TRUE(status.ok()) << status;
  const SelectionConfig& s = config.selection;
  ASSERT_EQ(s.include.size(), 2u);
  EXPECT_THAT(s.include[0].namespaces, ElementsAre("shop", "team-*"));
  EXPECT_THAT(s.include[0].pod_labels,
              ElementsAre(Pair("app.kubernetes.io/part-of", "shop"), Pair("tier", "web*")));
  EXPECT_THAT(s.include[1].workloads, ElementsAre("Deployment/cart", "checkout-*"));
  ASSERT_EQ(s.exclude.size(), 1u) << "a given exclude list replaces the default";
  EXPECT_THAT(s.exclude[0].executables, ElementsAre("sshd", "python3*"));
  EXPECT_THAT(s.include_ports, ElementsAre(80, 8080));
  EXPECT_THAT(s.exclude_ports, ElementsAre(22));
}

TEST(SelectionConfigTest, AnEmptyExcludeDropsTheDefault) {
  for (const char* yaml : {"selection:\n  exclude: []\n", "selection:\n  exclude:\n"}) {
    Config config;
    const absl::Status status = ApplyYaml(yaml, &config);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_TRUE(config.selection.exclude.empty()) << yaml;
  }
}

TEST(SelectionConfigTest, MistakesNameTheKeyAndSayWhatToFix) {
  struct Case {
    const char* yaml;
    const char* key;
    const char* expect;
  };
  const Case cases[] = {
      {"selection: [a]\n", "'selection'", "must be a mapping"},
      {"selection: {includes: []}\n", "'selection.includes'", "unknown"},
      {"selection: {exclude: {namespaces: [a]}}\n", "'selection.exclude'", "list of rules"},
      {"selection: {exclude: [{}]}\n", "'selection.exclude[0]'", "names nothing"},
      {"selection: {exclude: [sshd]}\n", "'selection.exclude[0]'", "must be a mapping"},
      {"selection: {include: [{namespaces: [a]}, {namespace: [b]}]}\n",
       "'selection.include[1].namespace'", "unknown (known: namespaces"},
      {"selection: {exclude: [{namespaces: kube-system}]}\n", "'selection.exclude[0].namespaces'",
       "list of patterns"},
      {"selection: {exclude: [{executables: [\"\"]}]}\n", "'selection.exclude[0].executables'",
       "non-empty"},
      {"selection: {exclude: [{executables: [[a]]}]}\n", "'selection.exclude[0].executables'",
       "non-empty strings"},
      {"selection: {exclude: [{pod_labels: [app]}]}\n", "'selection.exclude[0].pod_labels'",
       "mapping of label"},
      {"selection: {exclude: [{pod_labels: {app: [a]}}]}\n", "'selection.exclude[0].pod_labels'",
       "string value patterns"},
      {"selection: {exclude: [{ports: [22]}]}\n", "'selection.exclude[0].ports'",
       "selection.exclude_ports"},
      {"selection: {exclude_ports: [0]}\n", "'selection.exclude_ports'", "between 1 and 65535"},
      {"selection: {exclude_ports: [70000]}\n", "'selection.exclude_ports'", "between 1 and 65535"},
      {"selection: {include_ports: [http]}\n", "'selection.include_ports'", "between 1 and 65535"},
      {"selection: {include_ports: 80}\n", "'selection.include_ports'", "list of ports"},
      {"selection: {exclude: [], exclude: []}\n", "'selection.exclude'", "more than once"},
      {"selection: {exclude: [{executables: [a], executables: [b]}]}\n",
       "'selection.exclude[0].executables'", "more than once"},
  };
  for (const Case& c : cases) {
    Config config;
    const absl::Status status = ApplyYaml(c.yaml, &config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(std::string(status.message()), AllOf(HasSubstr(c.key), HasSubstr(c.expect)))
        << c.yaml;
  }
}

TEST(SelectionConfigTest, ListsAreBounded) {
  std::string ports = "selection: {exclude_ports: [";
  for (size_t i = 1; i <= kMaxSelectionPorts + 1; ++i) ports += std::to_string(i) + ",";
  ports.back() = ']';
  ports += "}\n";
  Config config;
  EXPECT_THAT(std::string(ApplyYaml(ports, &config).message()), HasSubstr("more than 64 ports"));

  std::string rules = "selection:\n  exclude:\n";
  for (size_t i = 0; i <= kMaxSelectionRules; ++i) rules += "    - executables: [a]\n";
  EXPECT_THAT(std::string(ApplyYaml(rules, &config).message()), HasSubstr("more than 64 rules"));
}

}  // namespace
}  // namespace loupe
