// The container a process runs in, from its /proc/<pid>/cgroup: the runtime's 64-hex-digit id
// that container runtimes put in the cgroup path of every container they start (issue 15).
#pragma once

#include <string>
#include <string_view>

namespace loupe {

// The container id in the contents of a /proc/<pid>/cgroup file, or "" when the process is not
// in a container (or in one whose runtime does not name its cgroups after the id).
//
// Understood, in cgroup v1 ("4:memory:/path") and v2 ("0::/path") lines alike, whatever the
// path's prefix (a reader in another cgroup namespace sees "/../../..." in front):
//   kubelet, cgroupfs driver   /kubepods/besteffort/pod<uid>/<id>
//   kubelet, systemd driver    /kubepods.slice/.../kubepods-...-pod<uid>.slice/cri-containerd-<id>.scope
//                              (CRI-O: crio-<id>.scope; Docker via cri-dockerd: docker-<id>.scope)
//   Docker                     /docker/<id>, /system.slice/docker-<id>.scope
//   podman                     /libpod_parent/libpod-<id>, /machine.slice/libpod-<id>.scope[/container]
// The last path component that names an id wins (a nested container's own). Monitor processes
// that share the naming (CRI-O's crio-conmon-<id>.scope, podman's libpod-conmon-<id>.scope) are
// not the container and give "".
std::string ContainerIdFromCgroup(std::string_view cgroup_file);

// ContainerIdFromCgroup of /proc/<pid>/cgroup under `proc_root` ("/proc" outside tests); "" when
// it cannot be read.
std::string ReadContainerId(std::string_view proc_root, int64_t pid);

}  // namespace loupe
