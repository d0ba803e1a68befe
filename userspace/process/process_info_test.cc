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

}  // namespace
}  // namespace loupe
