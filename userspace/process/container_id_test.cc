#include "userspace/process/container_id.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

constexpr char kId[] = "3f4bd6a9c5d1e2f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(LOUPE_CGROUP_FIXTURES) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ContainerIdTest, PodmanOnThisMachineCgroupfsHybrid) {
  const std::string file = Fixture("podman_cgroupfs_hybrid.cgroup");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(ContainerIdFromCgroup(file),
            "d1053d91a3a04896b45705aabd906bfc62d099066b8218eeb159247cebe99149");
}

// Kubernetes 1.20, containerd, cgroupfs driver: the ids match the pod list's containerStatuses
// ("containerd://<id>") of the same cluster.
TEST(ContainerIdTest, KubernetesPodsOnContainerd) {
  EXPECT_EQ(ContainerIdFromCgroup(Fixture("k8s_containerd_cgroupfs_deployment.cgroup")),
            "be2c261c7493dfb3e0ee179b6f85f18dcedb5e42c0069d695275a774316c679c");
  EXPECT_EQ(ContainerIdFromCgroup(Fixture("k8s_containerd_cgroupfs_job.cgroup")),
            "7bb4acb5fe771e09de95a471c314d0eec13c94edbabdd10253f79ec64a1561a5");
  EXPECT_EQ(ContainerIdFromCgroup(Fixture("k8s_containerd_cgroupfs_pause.cgroup")),
            "cae892d24eacd956b30d3243e774a730ab1c2bf19f0db3cadb6d7ca22d0c344e");
}

TEST(ContainerIdTest, HostProcessHasNone) {
  const std::string file = Fixture("host_root.cgroup");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(ContainerIdFromCgroup(file), "");
}

struct Layout {
  const char* name;
  std::string line;
};

class LayoutTest : public testing::TestWithParam<Layout> {};

TEST_P(LayoutTest, FindsTheId) {
  EXPECT_EQ(ContainerIdFromCgroup(GetParam().line), kId) << GetParam().line;
}

const std::string id = kId;
INSTANTIATE_TEST_SUITE_P(
    Runtimes, LayoutTest,
    testing::Values(
        // kubelet with the cgroupfs driver (containerd, cgroup v1): QoS class, pod, container.
        Layout{"kubelet_cgroupfs_besteffort",
               "11:memory:/kubepods/besteffort/pod0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10/" + id},
        Layout{"kubelet_cgroupfs_guaranteed",
               "4:cpu,cpuacct:/kubepods/pod0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10/" + id},
        // kubelet with the systemd driver, containerd (cgroup v2 unified line).
        Layout{"kubelet_systemd_containerd",
               "0::/kubepods.slice/kubepods-burstable.slice/"
               "kubepods-burstable-pod0f1c5a8e_2b7d_4c3e_9a61_5d2e8f7b4c10.slice/"
               "cri-containerd-" + id + ".scope"},
        // Older containerd systemd naming.
        Layout{"containerd_systemd_old", "0::/system.slice/containerd-" + id + ".scope"},
        // CRI-O, systemd driver, cgroup v1 line.
        Layout{"crio_systemd",
               "9:pids:/kubepods.slice/kubepods-besteffort.slice/"
               "kubepods-besteffort-pod0f1c5a8e_2b7d_4c3e_9a61_5d2e8f7b4c10.slice/crio-" + id +
                   ".scope"},
        // CRI-O, cgroupfs driver.
        Layout{"crio_cgroupfs",
               "0::/kubepods/burstable/pod0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10/crio-" + id},
        // Docker: cgroupfs and systemd.
        Layout{"docker_cgroupfs", "4:memory:/docker/" + id},
        Layout{"docker_systemd", "0::/system.slice/docker-" + id + ".scope"},
        // Kubernetes on Docker (dockershim / cri-dockerd), systemd driver.
        Layout{"kubelet_systemd_docker",
               "0::/kubepods.slice/kubepods-pod0f1c5a8e_2b7d_4c3e_9a61_5d2e8f7b4c10.slice/docker-" +
                   id + ".scope"},
        // podman with systemd: the container's processes sit in a "container" sub-cgroup.
        Layout{"podman_systemd", "0::/machine.slice/libpod-" + id + ".scope/container"},
        Layout{"podman_rootless",
               "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id +
                   ".scope"},
        // The agent in its own cgroup namespace sees other pods' paths relative to its root.
        Layout{"other_cgroup_namespace",
               "0::/../../kubepods-besteffort-pod0f1c5a8e_2b7d_4c3e_9a61_5d2e8f7b4c10.slice/"
               "cri-containerd-" + id + ".scope"},
        // A first line without an id, the id on a later one.
        Layout{"id_on_a_later_line", "12:rdma:/\n0::/docker/" + id + "\n"}),
    [](const testing::TestParamInfo<Layout>& info) { return std::string(info.param.name); });

TEST(ContainerIdTest, NestedContainerGivesTheInnermostId) {
  const std::string outer(64, 'a');
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker/" + outer + "/docker/" + std::string(kId)), kId);
}

TEST(ContainerIdTest, NotContainers) {
  EXPECT_EQ(ContainerIdFromCgroup(""), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/\n"), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/user.slice/user-1000.slice/session-2.scope\n"), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/system.slice/nginx.service\n"), "");
  // A pod's cgroup itself (the process sits in the pod, not in one of its containers).
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods/besteffort/pod0f1c5a8e-2b7d-4c3e-9a61-5d2e8f7b4c10"),
            "");
  // 32 hex digits: a job's cgroup, not a container runtime's id.
  EXPECT_EQ(ContainerIdFromCgroup("4:memory:/jobs/f14f5a2427aeb73f04aed3614826c3e8\n"), "");
  // Upper-case hex and 63 or 65 digits are not runtime ids.
  std::string upper(kId);
  upper[0] = 'F';
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker/" + upper), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker/" + std::string(kId).substr(1)), "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/docker/" + std::string(kId) + "0"), "");
  // Malformed lines are skipped.
  EXPECT_EQ(ContainerIdFromCgroup("garbage\n::\n" + std::string(kId) + "\n"), "");
}

TEST(ContainerIdTest, MonitorProcessesAreNotTheirContainers) {
  EXPECT_EQ(ContainerIdFromCgroup("0::/machine.slice/libpod-conmon-" + std::string(kId) + ".scope"),
            "");
  EXPECT_EQ(ContainerIdFromCgroup("0::/kubepods.slice/kubepods-besteffort.slice/"
                                  "kubepods-besteffort-pod0f1c5a8e_2b7d.slice/crio-conmon-" +
                                  std::string(kId) + ".scope"),
            "");
}

TEST(ContainerIdTest, ReadsProcFiles) {
  EXPECT_EQ(ReadContainerId(LOUPE_CGROUP_FIXTURES "/no-such-proc", 1), "");
}

}  // namespace
}  // namespace loupe
