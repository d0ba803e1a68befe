#include "userspace/process/process_info.h"

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProcessFacts Facts(std::string exe_path, std::vector<std::string> argv, std::string comm = "") {
  ProcessFacts facts;
  facts.pid = 100;
  facts.exe_path = std::move(exe_path);
  facts.argv = std::move(argv);
  facts.comm = std::move(comm);
  facts.start_time_ticks = 5000;
  return facts;
}

// ---- ServiceNameOf --------------------------------------------------------------------------

TEST(ServiceNameTest, OtelServiceNameWins) {
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py"});
  facts.otel_service_name = "checkout";
  facts.otel_resource_attributes = "service.name=ignored";
  EXPECT_EQ(ServiceNameOf(facts), "checkout");
}

TEST(ServiceNameTest, EmptyOtelServiceNameFallsThrough) {
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py"});
  facts.otel_service_name = "";
  facts.otel_resource_attributes = "deployment.environment=prod,service.name=payments";
  EXPECT_EQ(ServiceNameOf(facts), "payments");
}

TEST(ServiceNameTest, ServiceNameFromResourceAttributesIsDecoded) {
  ProcessFacts facts = Facts("/srv/bin/api", {"/srv/bin/api"});
  facts.otel_resource_attributes = " service.name = my%20api ,team=core";
  EXPECT_EQ(ServiceNameOf(facts), "my api");
  facts.otel_resource_attributes = "team=core,service.name=";
  EXPECT_EQ(ServiceNameOf(facts), "api") << "an empty service.name is not a name";
}

TEST(ServiceNameTest, InterpretersAreNamedAfterTheirProgram) {
  struct Case {
    const char* exe;
    std::vector<std::string> argv;
    const char* expected;
  };
  const Case cases[] = {
      {"/usr/bin/python3.11", {"python3", "script.py"}, "script"},
      {"/usr/bin/python3.11", {"python3", "-u", "/srv/app/server.py", "--port", "80"}, "server"},
      {"/usr/bin/python3", {"python3", "-m", "pkg.mod"}, "pkg.mod"},
      {"/usr/bin/python3", {"python3", "-m", "http.server", "8000"}, "http.server"},
      {"/usr/lib/jvm/java-17/bin/java", {"java", "-Xmx1g", "-jar", "/opt/app.jar"}, "app"},
      {"/usr/bin/node", {"node", "server.js"}, "server"},
      {"/usr/local/bin/node", {"node", "--enable-source-maps", "dist/index.mjs"}, "index"},
      {"/usr/bin/ruby", {"ruby", "bin/rails"}, "rails"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ServiceNameOf(Facts(c.exe, c.argv)), c.expected) << c.exe;
  }
}

TEST(ServiceNameTest, InlineCodeAndBareInterpreterUseTheExecutable) {
  EXPECT_EQ(ServiceNameOf(Facts("/usr/bin/python3", {"python3", "-c", "print(1)"})), "python3");
  EXPECT_EQ(ServiceNameOf(Facts("/usr/bin/node", {"node", "-e", "x()", "later.js"})), "node");
  EXPECT_EQ(ServiceNameOf(Facts("/usr/bin/python3", {"python3"})), "python3");
  EXPECT_EQ(ServiceNameOf(Facts("/usr/bin/python3", {"python3", "-u"})), "python3");
  EXPECT_EQ(ServiceNameOf(Facts("/usr/bin/python3", {"python3", "-m"})), "python3");
}

TEST(ServiceNameTest, PlainExecutablesUseTheirBasename) {
  EXPECT_EQ(ServiceNameOf(Facts("/usr/sbin/nginx", {"nginx: master process", "-g", "x.py"})),
            "nginx");
  EXPECT_EQ(ServiceNameOf(Facts("/opt/svc/orders-api", {"/opt/svc/orders-api", "serve"})),
            "orders-api");
}

TEST(ServiceNameTest, ArgvThenCommThenUnknown) {
  EXPECT_EQ(ServiceNameOf(Facts("", {"/usr/local/bin/worker", "run"})), "worker");
  EXPECT_EQ(ServiceNameOf(Facts("", {}, "kworker")), "kworker");
  EXPECT_EQ(ServiceNameOf(Facts("", {})), "unknown");
}

// ---- ParseResourceAttributes ----------------------------------------------------------------

TEST(ResourceAttributesTest, ParsesDecodesAndSkipsBadPairs) {
  const std::vector<Attribute> attrs = ParseResourceAttributes(
      "a=1, b = two%20words ,noequals,=novalue,,c=%3D%2c%zz%4,d=,e=x=y");
  std::map<std::string, std::string> got;
  for (const Attribute& a : attrs) {
    EXPECT_FALSE(a.is_int);
    got[a.key] = a.value;
  }
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(got["a"], "1");
  EXPECT_EQ(got["b"], "two words");
  EXPECT_EQ(got["c"], "=,%zz%4") << "invalid escapes are kept as they are";
  EXPECT_EQ(got["d"], "");
  EXPECT_EQ(got["e"], "x=y");
  EXPECT_EQ(got.count("noequals"), 0u);
  EXPECT_EQ(got.count(""), 0u);
}

TEST(ResourceAttributesTest, KeepsOrderAndHandlesEmptyInput) {
  EXPECT_TRUE(ParseResourceAttributes("").empty());
  EXPECT_TRUE(ParseResourceAttributes(",,,").empty());
  const std::vector<Attribute> attrs = ParseResourceAttributes("z=1,a=2");
  ASSERT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs[0].key, "z");
  EXPECT_EQ(attrs[1].key, "a");
  // An escape at the very end of the text.
  const std::vector<Attribute> tail = ParseResourceAttributes("k=a%41");
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].value, "aA");
}

// ---- ProcessInfoCache -----------------------------------------------------------------------

constexpr uint64_t kSecond = 1'000'000'000;

class FakeProc {
 public:
  ProcessInfoCache::Reader reader() {
    return [this](int64_t pid) -> std::optional<ProcessFacts> {
      ++reads[pid];
      auto it = processes.find(pid);
      if (it == processes.end()) return std::nullopt;
      ProcessFacts facts = it->second;
      facts.pid = pid;
      return facts;
    };
  }
  std::map<int64_t, ProcessFacts> processes;
  std::map<int64_t, int> reads;
};

TEST(ProcessInfoCacheTest, BuildsTheResourceAndCaches) {
  FakeProc proc;
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py", "--password=x"});
  facts.start_time_ticks = 4242;
  facts.otel_resource_attributes =
      "deployment.environment=prod,service.name=storefront,db.password=p,api_key=k,AuthToken=t,"
      "team=core";
  proc.processes[10] = facts;
  ProcessInfoCache cache("host-a", 16, proc.reader());

  auto resource = cache.Get(10, 1 * kSecond, "python3");
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->service_name, "storefront");
  EXPECT_EQ(resource->host_name, "host-a");
  EXPECT_EQ(resource->pid, 10);
  EXPECT_EQ(resource->service_instance_id, "host-a:10:4242");
  EXPECT_EQ(resource->executable_name, "python3");
  EXPECT_EQ(resource->command_line, "") << "process.command_line is opt-in";
  std::map<std::string, std::string> extra;
  for (const Attribute& a : resource->extra) extra[a.key] = a.value;
  EXPECT_EQ(extra.count("deployment.environment"), 1u);
  EXPECT_EQ(extra.count("team"), 1u);
  EXPECT_EQ(extra.count("service.name"), 0u) << "service.name is the service name, not extra";
  EXPECT_EQ(extra.count("db.password"), 0u);
  EXPECT_EQ(extra.count("api_key"), 0u);
  EXPECT_EQ(extra.count("AuthToken"), 0u);

  // Within the recheck interval /proc is not read again and the same object is returned.
  auto again = cache.Get(10, 29 * kSecond, "python3");
  EXPECT_EQ(again.get(), resource.get());
  EXPECT_EQ(proc.reads[10], 1);
  EXPECT_EQ(cache.size(), 1u);
}

// Issue 20: command lines leaked passwords no redactor anticipated; by default none is exported.
TEST(ProcessInfoCacheTest, CommandLineIsExportedOnlyWhenAskedAndThenRedacted) {
  FakeProc proc;
  proc.processes[11] = Facts("/usr/bin/redis-cli", {"redis-cli", "--no-auth-warning", "-a",
                                                    "hunter2", "PING"});
  proc.processes[12] = Facts("/usr/bin/python3", {"python3", "app.py", "--password=x"});
  ProcessInfoCache by_default("host-a", 16, proc.reader());
  EXPECT_EQ(by_default.Get(11, kSecond, "redis-cli")->command_line, "");
  EXPECT_EQ(by_default.Get(12, kSecond, "python3")->command_line, "");
  EXPECT_EQ(by_default.Get(12, kSecond, "python3")->executable_name, "python3")
      << "the executable's name is still exported";

  ProcessInfoCache opted_in("host-a", 16, proc.reader(), {}, /*export_command_line=*/true);
  EXPECT_EQ(opted_in.Get(11, kSecond, "redis-cli")->command_line,
            "redis-cli --no-auth-warning -a *** PING");
  EXPECT_EQ(opted_in.Get(12, kSecond, "python3")->command_line, "python3 app.py --password=***");
}

TEST(ProcessInfoCacheTest, PidReuseIsDetectedAfterTheRecheckInterval) {
  FakeProc proc;
  proc.processes[20] = Facts("/usr/sbin/nginx", {"nginx"});
  proc.processes[20].start_time_ticks = 100;
  ProcessInfoCache cache("h", 16, proc.reader());
  auto first = cache.Get(20, 0);
  EXPECT_EQ(first->service_name, "nginx");

  // The pid now belongs to another process; still cached until 30 s have passed.
  proc.processes[20] = Facts("/usr/bin/redis-server", {"redis-server"});
  proc.processes[20].start_time_ticks = 900;
  EXPECT_EQ(cache.Get(20, 30 * kSecond - 1)->service_name, "nginx");
  EXPECT_EQ(proc.reads[20], 1);

  auto second = cache.Get(20, 30 * kSecond);
  EXPECT_EQ(proc.reads[20], 2);
  EXPECT_EQ(second->service_name, "redis-server");
  EXPECT_EQ(second->service_instance_id, "h:20:900");
  EXPECT_EQ(first->service_name, "nginx") << "handed-out resources are immutable";
  // The new identity is cached from the recheck on.
  EXPECT_EQ(cache.Get(20, 31 * kSecond).get(), second.get());
  EXPECT_EQ(proc.reads[20], 2);
}

TEST(ProcessInfoCacheTest, SameStartTimeKeepsTheResourceAfterRecheck) {
  FakeProc proc;
  proc.processes[21] = Facts("/usr/sbin/nginx", {"nginx"});
  ProcessInfoCache cache("h", 16, proc.reader());
  auto first = cache.Get(21, 0);
  proc.processes[21].otel_service_name = "renamed";  // same process (same start time)
  auto second = cache.Get(21, 40 * kSecond);
  EXPECT_EQ(proc.reads[21], 2);
  EXPECT_EQ(second.get(), first.get());
}

TEST(ProcessInfoCacheTest, ExitedProcessKeepsItsLastIdentity) {
  FakeProc proc;
  proc.processes[22] = Facts("/srv/api", {"/srv/api"});
  ProcessInfoCache cache("h", 16, proc.reader());
  auto first = cache.Get(22, 0);
  proc.processes.erase(22);
  EXPECT_EQ(cache.Get(22, 60 * kSecond)->service_name, "api");
}

TEST(ProcessInfoCacheTest, VanishedProcessIsNamedAfterCommHint) {
  FakeProc proc;
  ProcessInfoCache cache("h", 16, proc.reader());
  auto resource = cache.Get(30, 0, "curl");
  EXPECT_EQ(resource->service_name, "curl");
  EXPECT_EQ(resource->pid, 30);
  EXPECT_EQ(resource->service_instance_id, "h:30");
  EXPECT_THAT(resource->service_name, Not(HasSubstr("30"))) << "never named after the pid";
  EXPECT_EQ(cache.Get(31, 0)->service_name, "unknown");
}

TEST(ProcessInfoCacheTest, ProcessExitingMidReadIsNamedAfterCommHint) {
  FakeProc proc;
  ProcessFacts partial;  // stat was read, then the process was gone: no exe, argv or comm
  partial.start_time_ticks = 77;
  proc.processes[40] = partial;
  ProcessInfoCache cache("h", 16, proc.reader());
  auto resource = cache.Get(40, 0, "psql");
  EXPECT_EQ(resource->service_name, "psql");
  EXPECT_EQ(resource->executable_name, "psql");
  EXPECT_EQ(resource->service_instance_id, "h:40:77");
  proc.processes[41] = partial;
  EXPECT_EQ(cache.Get(41, 0)->service_name, "unknown") << "no hint, nothing known";
}

TEST(ProcessInfoCacheTest, SizeIsBoundedWithLeastRecentlyUsedEviction) {
  FakeProc proc;
  for (int64_t pid = 1; pid <= 10; ++pid) {
    proc.processes[pid] = Facts("/bin/svc" + std::to_string(pid), {});
  }
  ProcessInfoCache cache("h", 3, proc.reader());
  cache.Get(1, 0);
  cache.Get(2, 0);
  cache.Get(3, 0);
  cache.Get(1, 0);  // 1 is now the most recent; 2 is the oldest
  cache.Get(4, 0);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(proc.reads[1], 1);
  cache.Get(1, 0);
  cache.Get(3, 0);
  EXPECT_EQ(proc.reads[1], 1) << "1 stayed cached";
  EXPECT_EQ(proc.reads[3], 1) << "3 stayed cached";
  cache.Get(2, 0);
  EXPECT_EQ(proc.reads[2], 2) << "2 was evicted and read again";
  for (int64_t pid = 1; pid <= 10; ++pid) cache.Get(static_cast<uint32_t>(pid), 0);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ProcessInfoCacheTest, AgentAttributesAreAddedAndTheProcessOwnWin) {
  FakeProc proc;
  ProcessFacts facts = Facts("/srv/api", {"/srv/api"});
  facts.otel_resource_attributes = "deployment.environment=prod,team=core";
  proc.processes[40] = facts;
  ProcessInfoCache cache("h", 16, proc.reader(),
                         {{"deployment.environment", "staging", false},
                          {"k8s.cluster.name", "c1", false}});
  auto count_key = [](const ProcessResource& r, const std::string& key) {
    int n = 0;
    for (const Attribute& a : r.extra) n += a.key == key ? 1 : 0;
    return n;
  };
  auto value_of = [](const ProcessResource& r, const std::string& key) {
    for (const Attribute& a : r.extra) {
      if (a.key == key) return a.value;
    }
    return std::string("<missing>");
  };
  auto resource = cache.Get(40, 0);
  EXPECT_EQ(value_of(*resource, "deployment.environment"), "prod");
  EXPECT_EQ(count_key(*resource, "deployment.environment"), 1);
  EXPECT_EQ(value_of(*resource, "k8s.cluster.name"), "c1");
  EXPECT_EQ(value_of(*resource, "team"), "core");

  // A vanished process still carries the agent's attributes.
  auto gone = cache.Get(41, 0, "worker");
  EXPECT_EQ(value_of(*gone, "deployment.environment"), "staging");
  EXPECT_EQ(value_of(*gone, "k8s.cluster.name"), "c1");
  EXPECT_EQ(gone->executable_name, "worker");
}

TEST(ReadProcessFactsTest, ReadsOwnProcess) {
  const auto facts = ReadProcessFacts(getpid());
  ASSERT_TRUE(facts.has_value());
  EXPECT_EQ(facts->pid, getpid());
  EXPECT_GT(facts->start_time_ticks, 0u);
  ASSERT_FALSE(facts->argv.empty());
  EXPECT_THAT(facts->argv[0], HasSubstr("process_info_test"));
  EXPECT_THAT(facts->exe_path, HasSubstr("process_info_test"));
  EXPECT_FALSE(facts->comm.empty());
  EXPECT_EQ(facts->comm.find('\n'), std::string::npos) << "trailing newline stripped";
  EXPECT_EQ(ServiceNameOf(*facts), "process_info_test");
  // Stable across reads: the start time identifies this process.
  EXPECT_EQ(ReadProcessFacts(getpid())->start_time_ticks, facts->start_time_ticks);
}

TEST(ReadProcessFactsTest, MissingProcessIsNullopt) {
  EXPECT_FALSE(ReadProcessFacts(-1).has_value());
  EXPECT_FALSE(ReadProcessFacts(999'999'999).has_value());
}

TEST(ProcessAliveTest, ChecksThePidDirectoryUnderTheProcRoot) {
  EXPECT_TRUE(ProcessAlive("/proc", static_cast<uint32_t>(getpid())));
  EXPECT_FALSE(ProcessAlive("/proc", 999'999'999u));
  char root[] = "/tmp/loupe-proc-XXXXXX";
  ASSERT_NE(mkdtemp(root), nullptr);
  const std::string pid_dir = std::string(root) + "/123";
  ASSERT_EQ(mkdir(pid_dir.c_str(), 0755), 0);
  EXPECT_TRUE(ProcessAlive(root, 123));
  EXPECT_FALSE(ProcessAlive(root, 124));
  rmdir(pid_dir.c_str());
  rmdir(root);
}


// ---- Kubernetes identity and the naming order (issue 15) -------------------------------------

namespace k8s_test {

constexpr char kContainer[] = "3f4bd6a9c5d1e2f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1";

// A PodDirectory whose snapshot the test edits; counts lookups so the cost stays visible.
class FakePodDirectory : public PodDirectory {
 public:
  std::shared_ptr<const KubernetesIdentity> FindContainer(
      std::string_view container_id) const override {
    ++lookups;
    auto it = containers.find(std::string(container_id));
    return it == containers.end() ? nullptr : it->second;
  }
  uint64_t generation() const override { return generation_value; }
  bool synced() const override { return true; }

  void Put(std::shared_ptr<const KubernetesIdentity> identity) {
    containers[identity->container_id] = std::move(identity);
    ++generation_value;
  }

  std::map<std::string, std::shared_ptr<const KubernetesIdentity>> containers;
  uint64_t generation_value = 1;
  mutable int lookups = 0;
};

std::shared_ptr<KubernetesIdentity> Identity() {
  auto identity = std::make_shared<KubernetesIdentity>();
  identity->namespace_name = "shop";
  identity->pod_name = "checkout-7d9f8b6c5-x2x4k";
  identity->pod_uid = "0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10";
  identity->container_name = "server";
  identity->node_name = "node-1";
  identity->container_id = kContainer;
  identity->workload = {"Deployment", "checkout"};
  return identity;
}

TEST(ServiceNameForTest, TheOpenTelemetryOrder) {
  KubernetesIdentity k = *Identity();
  k.service_name_annotation = "annotated";
  k.app_name_label = "labelled";
  EXPECT_EQ(ServiceNameFor("from-env", &k, "python3"), "from-env");
  EXPECT_EQ(ServiceNameFor("", &k, "python3"), "annotated");
  k.service_name_annotation.clear();
  EXPECT_EQ(ServiceNameFor("", &k, "python3"), "labelled");
  k.app_name_label.clear();
  EXPECT_EQ(ServiceNameFor("", &k, "python3"), "checkout") << "the workload's name";
  k.workload = {};
  EXPECT_EQ(ServiceNameFor("", &k, "python3"), "server") << "a bare pod: its container's name";
  k.container_name.clear();
  EXPECT_EQ(ServiceNameFor("", &k, "python3"), "python3");
  EXPECT_EQ(ServiceNameFor("", nullptr, "python3"), "python3");
}

TEST(ProcessInfoCacheKubernetesTest, ContainerInAPodGetsItsIdentityAndNames) {
  FakeProc proc;
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py"});
  facts.container_id = kContainer;
  proc.processes[50] = facts;
  FakePodDirectory pods;
  pods.Put(Identity());
  ProcessInfoCache cache("node-1", 16, proc.reader(), {}, false, &pods);

  auto resource = cache.Get(50, kSecond, "python3");
  EXPECT_EQ(resource->container_id, kContainer);
  ASSERT_NE(resource->kubernetes, nullptr);
  EXPECT_EQ(resource->kubernetes->pod_name, "checkout-7d9f8b6c5-x2x4k");
  EXPECT_EQ(resource->service_name, "checkout") << "the Deployment, not the script";
  EXPECT_EQ(resource->service_namespace, "shop");
}

TEST(ProcessInfoCacheKubernetesTest, TheProcessOwnNameAndNamespaceWin) {
  FakeProc proc;
  ProcessFacts facts = Facts("/srv/api", {"/srv/api"});
  facts.container_id = kContainer;
  facts.otel_service_name = "api-gateway";
  facts.otel_resource_attributes = "service.namespace=edge,team=core";
  proc.processes[51] = facts;
  FakePodDirectory pods;
  pods.Put(Identity());
  ProcessInfoCache cache("node-1", 16, proc.reader(), {{"service.namespace", "agent-ns", false}},
                         false, &pods);
  auto resource = cache.Get(51, kSecond);
  EXPECT_EQ(resource->service_name, "api-gateway");
  EXPECT_EQ(resource->service_namespace, "edge");
  for (const Attribute& a : resource->extra) {
    EXPECT_NE(a.key, "service.namespace") << "a field of the resource, not an extra attribute";
  }
}

TEST(ProcessInfoCacheKubernetesTest, HostProcessesAreNeverLookedUp) {
  FakeProc proc;
  proc.processes[52] = Facts("/usr/sbin/nginx", {"nginx"});
  FakePodDirectory pods;
  ProcessInfoCache cache("node-1", 16, proc.reader(), {{"service.namespace", "lab", false}},
                         false, &pods);
  auto resource = cache.Get(52, kSecond);
  EXPECT_EQ(resource->kubernetes, nullptr);
  EXPECT_EQ(resource->service_name, "nginx");
  EXPECT_EQ(resource->service_namespace, "lab") << "the agent's own service.namespace";
  pods.Put(Identity());
  cache.Get(52, 2 * kSecond);
  EXPECT_EQ(pods.lookups, 0);
}

TEST(ProcessInfoCacheKubernetesTest, AMissIsResolvedAgainOnlyWhenTheGenerationMoves) {
  FakeProc proc;
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py"});
  facts.container_id = kContainer;
  proc.processes[53] = facts;
  FakePodDirectory pods;
  ProcessInfoCache cache("node-1", 16, proc.reader(), {}, false, &pods);

  auto before = cache.Get(53, kSecond);
  EXPECT_EQ(before->kubernetes, nullptr) << "the watch has not seen the pod yet";
  EXPECT_EQ(before->service_name, "app");
  EXPECT_EQ(before->service_namespace, "");
  EXPECT_EQ(pods.lookups, 1);
  for (int i = 0; i < 10; ++i) cache.Get(53, 2 * kSecond);
  EXPECT_EQ(pods.lookups, 1) << "nothing changed: no lookup";

  pods.Put(Identity());
  auto after = cache.Get(53, 3 * kSecond);
  EXPECT_EQ(pods.lookups, 2);
  ASSERT_NE(after->kubernetes, nullptr);
  EXPECT_EQ(after->service_name, "checkout");
  EXPECT_EQ(after->service_namespace, "shop");
  EXPECT_NE(after.get(), before.get()) << "a new resource: spans may still hold the old one";
  EXPECT_EQ(before->service_name, "app");
  EXPECT_EQ(proc.reads[53], 1) << "renamed without reading /proc again";
  EXPECT_EQ(cache.Get(53, 4 * kSecond).get(), after.get());
  EXPECT_EQ(pods.lookups, 2);
}

TEST(ProcessInfoCacheKubernetesTest, AnUpdatedIdentityRenamesAndADeletedPodKeepsTheLastOne) {
  FakeProc proc;
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py"});
  facts.container_id = kContainer;
  proc.processes[54] = facts;
  FakePodDirectory pods;
  auto first = Identity();
  first->workload = {"ReplicaSet", "checkout-7d9f8b6c5"};  // owner not resolved yet
  pods.Put(first);
  ProcessInfoCache cache("node-1", 16, proc.reader(), {}, false, &pods);
  EXPECT_EQ(cache.Get(54, kSecond)->service_name, "checkout-7d9f8b6c5");

  pods.Put(Identity());
  EXPECT_EQ(cache.Get(54, kSecond)->service_name, "checkout");

  pods.containers.clear();
  ++pods.generation_value;
  auto last = cache.Get(54, kSecond);
  ASSERT_NE(last->kubernetes, nullptr) << "its last spans keep the pod's identity";
  EXPECT_EQ(last->service_name, "checkout");
}

TEST(ProcessInfoCacheKubernetesTest, TheListenerHearsOfEveryNewOrRenamedResource) {
  FakeProc proc;
  ProcessFacts facts = Facts("/usr/bin/python3", {"python3", "app.py"});
  facts.container_id = kContainer;
  proc.processes[56] = facts;
  FakePodDirectory pods;
  ProcessInfoCache cache("node-1", 16, proc.reader(), {}, false, &pods);
  std::vector<std::string> heard;
  cache.set_resource_listener(
      [&](const ProcessResource& resource) { heard.push_back(resource.service_name); });
  cache.Get(56, kSecond);
  cache.Get(56, kSecond);
  EXPECT_EQ(heard, std::vector<std::string>{"app"});
  pods.Put(Identity());
  cache.Get(56, kSecond);
  cache.Get(56, kSecond);
  EXPECT_EQ(heard, (std::vector<std::string>{"app", "checkout"}));
  ++pods.generation_value;  // a change elsewhere: same identity, nothing to tell
  cache.Get(56, kSecond);
  EXPECT_EQ(heard.size(), 2u);
  proc.processes[56].start_time_ticks += 1;  // the pid reused by another process
  cache.Get(56, 40 * kSecond);
  EXPECT_EQ(heard.size(), 3u);
}

TEST(ProcessInfoCacheKubernetesTest, WithoutADirectoryOnlyTheContainerIdIsKnown) {
  FakeProc proc;
  ProcessFacts facts = Facts("/usr/sbin/nginx", {"nginx"});
  facts.container_id = kContainer;
  proc.processes[55] = facts;
  ProcessInfoCache cache("node-1", 16, proc.reader());
  auto resource = cache.Get(55, kSecond);
  EXPECT_EQ(resource->container_id, kContainer);
  EXPECT_EQ(resource->kubernetes, nullptr);
  EXPECT_EQ(resource->service_name, "nginx");
}

}  // namespace k8s_test

}  // namespace
}  // namespace loupe
