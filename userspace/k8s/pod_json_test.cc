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

TEST(PodJsonTest, PodListKeepsWhatTheDirectoryNeeds) {
  absl::StatusOr<PodList> list = ParsePodList(Fixture("pod_list.json"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->resource_version, "1200");
  EXPECT_EQ(list->continue_token, "");
  ASSERT_EQ(list->pods.size(), 3u);

  const PodInfo& web = list->pods[0];
  EXPECT_EQ(web.uid, "6b1e2f0a-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(web.namespace_name, "shop");
  EXPECT_EQ(web.name, "web-5d4f8c7b9c-x7k2p");
  EXPECT_EQ(web.node_name, "node-1");
  EXPECT_EQ(web.phase, "Running");
  EXPECT_EQ(web.service_name_annotation, "shop-web");
  EXPECT_THAT(web.labels, ElementsAre(Pair("app", "web"), Pair("app.kubernetes.io/name", "storefront"),
                                      Pair("pod-template-hash", "5d4f8c7b9c")));
  ASSERT_EQ(web.owners.size(), 1u);
  EXPECT_EQ(web.owners[0].kind, "ReplicaSet");
  EXPECT_EQ(web.owners[0].name, "web-5d4f8c7b9c");
  EXPECT_TRUE(web.owners[0].controller);
  ASSERT_EQ(web.containers.size(), 2u);
  EXPECT_EQ(web.containers[0].name, "nginx");
  EXPECT_EQ(web.containers[0].id,
            "8f2a4c6e8a0b2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d");

  // A pod whose container has not started yet has no runtime id to be found by.
  EXPECT_TRUE(list->pods[2].containers.empty());
  EXPECT_EQ(list->pods[2].phase, "Pending");
}

TEST(PodJsonTest, WatchEventsOfEveryType) {
  const std::vector<std::string> lines = FixtureLines("watch_stream.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  absl::StatusOr<WatchEvent> added = ParseWatchEvent(lines[0]);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->type, WatchEventType::kAdded);
  EXPECT_TRUE(added->pod.containers.empty());

  absl::StatusOr<WatchEvent> modified = ParseWatchEvent(lines[1]);
  ASSERT_TRUE(modified.ok());
  EXPECT_EQ(modified->type, WatchEventType::kModified);
  ASSERT_EQ(modified->pod.containers.size(), 1u);
  EXPECT_EQ(modified->pod.resource_version, "1205");

  absl::StatusOr<WatchEvent> bookmark = ParseWatchEvent(lines[2]);
  ASSERT_TRUE(bookmark.ok());
  EXPECT_EQ(bookmark->type, WatchEventType::kBookmark);
  EXPECT_EQ(bookmark->pod.resource_version, "1210");

  absl::StatusOr<WatchEvent> deleted = ParseWatchEvent(lines[3]);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->type, WatchEventType::kDeleted);
  EXPECT_EQ(deleted->pod.uid, "99999999-8888-7777-6666-555555555555");
}

TEST(PodJsonTest, ExpiredWatchIsAnErrorEventWithCode410) {
  absl::StatusOr<WatchEvent> event = ParseWatchEvent(FixtureLines("watch_expired.jsonl").at(0));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, WatchEventType::kError);
  EXPECT_EQ(event->error_code, 410);
  EXPECT_THAT(event->error_message, ::testing::HasSubstr("too old resource version"));
}

TEST(PodJsonTest, OwnersOfReplicaSetAndJob) {
  absl::StatusOr<OwnedObject> replica_set = ParseOwnedObject(Fixture("replicaset.json"));
  ASSERT_TRUE(replica_set.ok());
  const OwnerReference* deployment = ControllerOf(replica_set->owners);
  ASSERT_NE(deployment, nullptr);
  EXPECT_EQ(deployment->kind, "Deployment");
  EXPECT_EQ(deployment->name, "web");

  absl::StatusOr<OwnedObject> job = ParseOwnedObject(Fixture("job.json"));
  ASSERT_TRUE(job.ok());
  const OwnerReference* cron_job = ControllerOf(job->owners);
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

TEST(PodJsonTest, StatusMessageOfAForbiddenList) {
  EXPECT_THAT(StatusMessage(Fixture("forbidden.json")),
              ::testing::HasSubstr("cannot list resource \"pods\""));
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
