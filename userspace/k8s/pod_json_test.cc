#include "userspace/k8s/pod_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "userspace/k8s/k8s_test_util.h"

namespace loupe {
namespace {

using k8s_test::Fixture;
using k8s_test::FixtureLines;
using ::testing::ElementsAre;
using ::testing::Pair;

// Captured from the Kubernetes 1.20 test cluster (tests/fixtures/kubernetes/README.md).
constexpr char kWebContainer[] = "04299cf5f5be55e631276cbbec3f0dca3b8d76aca15a2fd38de8c3e68cd581a8";
constexpr char kJobContainer[] = "6ed0b7482add90037104053373a28ede1574f0fdfe357ae856bfa82d826a1ed2";
constexpr char kChurnContainer[] = "55c0895f798d943d3a68ff7cd63e78171456d1bb2c10f712a1de59aa729240ba";

TEST(PodJsonTest, PodListKeepsWhatTheDirectoryNeeds) {
  absl::StatusOr<PodList> list = ParsePodList(Fixture("list_pods_node.json"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->resource_version, "398");
  EXPECT_EQ(list->continue_token, "");
  ASSERT_EQ(list->pods.size(), 2u);

  const PodInfo& job = list->pods[0];
  EXPECT_EQ(job.name, "once-xkl7d");
  ASSERT_EQ(job.owners.size(), 1u);
  EXPECT_EQ(job.owners[0].kind, "Job");
  EXPECT_EQ(job.owners[0].name, "once");
  ASSERT_EQ(job.containers.size(), 1u);
  EXPECT_EQ(job.containers[0].name, "job");
  EXPECT_EQ(job.containers[0].id, kJobContainer);

  const PodInfo& web = list->pods[1];
  EXPECT_EQ(web.uid, "d2ed2a07-b39a-420a-acbd-4d05771a9cbe");
  EXPECT_EQ(web.namespace_name, "capture");
  EXPECT_EQ(web.name, "web-7bd6c97dff-m87fv");
  EXPECT_EQ(web.node_name, "loupe-e2e-node");
  EXPECT_EQ(web.phase, "Running");
  EXPECT_EQ(web.service_name_annotation, "shop-frontend");
  EXPECT_THAT(web.labels, ElementsAre(Pair("app", "web"), Pair("app.kubernetes.io/name", "shop-web"),
                                      Pair("pod-template-hash", "7bd6c97dff")));
  ASSERT_EQ(web.owners.size(), 1u);
  EXPECT_EQ(web.owners[0].kind, "ReplicaSet");
  EXPECT_EQ(web.owners[0].name, "web-7bd6c97dff");
  EXPECT_TRUE(web.owners[0].controller);
  ASSERT_EQ(web.containers.size(), 1u);
  EXPECT_EQ(web.containers[0].name, "server");
  EXPECT_EQ(web.containers[0].id, kWebContainer);
}

TEST(PodJsonTest, PagesOfAListCarryTheContinueToken) {
  absl::StatusOr<PodList> first = ParsePodList(Fixture("list_pods_node_page1.json"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->continue_token.empty());
  EXPECT_EQ(first->pods.size(), 1u);
  absl::StatusOr<PodList> second = ParsePodList(Fixture("list_pods_node_page2.json"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->continue_token, "");
  EXPECT_EQ(second->pods.size(), 1u);
}

TEST(PodJsonTest, AWatchOfAPodFromCreationToItsContainerGoing) {
  const std::vector<std::string> lines = FixtureLines("watch_pods_node.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  std::vector<WatchEvent> events;
  for (const std::string& line : lines) {
    absl::StatusOr<WatchEvent> event = ParseWatchEvent(line);
    ASSERT_TRUE(event.ok()) << event.status();
    events.push_back(*event);
  }
  EXPECT_EQ(events[0].type, WatchEventType::kAdded);
  EXPECT_EQ(events[0].pod.name, "churn");
  EXPECT_EQ(events[0].pod.phase, "Pending");
  EXPECT_TRUE(events[0].pod.containers.empty());
  EXPECT_EQ(events[1].type, WatchEventType::kModified);
  EXPECT_TRUE(events[1].pod.containers.empty());  // a status without containerID yet
  ASSERT_EQ(events[2].pod.containers.size(), 1u);
  EXPECT_EQ(events[2].pod.containers[0].id, kChurnContainer);
  EXPECT_EQ(events[2].pod.resource_version, "343");
  EXPECT_TRUE(events[4].pod.containers.empty());  // being deleted: the id is gone again
  EXPECT_EQ(events[5].type, WatchEventType::kBookmark);
  EXPECT_EQ(events[5].pod.resource_version, "357");
}

TEST(PodJsonTest, ExpiredWatchIsAnErrorEventWithCode410) {
  absl::StatusOr<WatchEvent> event = ParseWatchEvent(FixtureLines("watch_pods_gone.jsonl").at(0));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, WatchEventType::kError);
  EXPECT_EQ(event->error_code, 410);
  EXPECT_EQ(event->error_message, "too old resource version: 318 (399)");
}

TEST(PodJsonTest, OwnersOfReplicaSetAndJobs) {
  absl::StatusOr<OwnedObject> replica_set = ParseOwnedObject(Fixture("replicaset.json"));
  ASSERT_TRUE(replica_set.ok());
  const OwnerReference* deployment = ControllerOf(replica_set->owners);
  ASSERT_NE(deployment, nullptr);
  EXPECT_EQ(deployment->kind, "Deployment");
  EXPECT_EQ(deployment->name, "web");

  absl::StatusOr<OwnedObject> job = ParseOwnedObject(Fixture("job.json"));
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(ControllerOf(job->owners), nullptr);  // a Job of its own

  absl::StatusOr<OwnedObject> scheduled = ParseOwnedObject(Fixture("job_cronjob.json"));
  ASSERT_TRUE(scheduled.ok());
  const OwnerReference* cron_job = ControllerOf(scheduled->owners);
  ASSERT_NE(cron_job, nullptr);
  EXPECT_EQ(cron_job->kind, "CronJob");
  EXPECT_EQ(cron_job->name, "report");
}

TEST(PodJsonTest, ControllerIsPreferredOverOtherOwners) {
  std::vector<OwnerReference> owners = {{"ConfigMap", "a", false}, {"StatefulSet", "db", true}};
  EXPECT_EQ(ControllerOf(owners)->name, "db");
  owners[1].controller = false;
  EXPECT_EQ(ControllerOf(owners)->name, "a");
  EXPECT_EQ(ControllerOf({}), nullptr);
}

TEST(PodJsonTest, StatusMessagesOfRefusals) {
  EXPECT_THAT(StatusMessage(Fixture("list_pods_forbidden.json")),
              ::testing::HasSubstr("cannot list resource \"pods\""));
  EXPECT_EQ(StatusMessage(Fixture("list_pods_unauthorized.json")), "Unauthorized");
  EXPECT_THAT(StatusMessage(Fixture("replicaset_not_found.json")), ::testing::HasSubstr("not found"));
  EXPECT_THAT(StatusMessage(Fixture("list_pods_gone.json")), ::testing::HasSubstr("too old"));
  EXPECT_EQ(StatusMessage("not json"), "");
}

TEST(PodJsonTest, MalformedInputIsAnErrorNotACrash) {
  EXPECT_FALSE(ParsePodList("").ok());
  EXPECT_FALSE(ParsePodList("[1,2]").ok());
  EXPECT_FALSE(ParsePodList(R"({"kind":"Status","code":403})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"ADDED"})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"EXPLODED","object":{}})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"ADDED","object":{)").ok());
  // Fields of unexpected types are ignored, not trusted.
  absl::StatusOr<WatchEvent> odd = ParseWatchEvent(
      R"({"type":"ADDED","object":{"metadata":{"uid":7,"labels":{"a":1,"b":"x"}},"status":{"containerStatuses":[3,{"name":"c"}]}}})");
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_EQ(odd->pod.uid, "");
  EXPECT_THAT(odd->pod.labels, ElementsAre(Pair("b", "x")));
  EXPECT_TRUE(odd->pod.containers.empty());
}

}  // namespace
}  // namespace loupe
