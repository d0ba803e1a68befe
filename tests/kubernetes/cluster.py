"""A single-node Kubernetes 1.20 cluster for the end-to-end test, on this machine only.

Binaries: tests/kubernetes/build-binaries.sh (Debian's source package, built once and cached).
Everything else is Debian's packages: etcd-server, containerd, runc, containernetworking-plugins
(bridge, host-local, loopback) and catatonit (the pod sandbox's "pause" process).

Layout and guard rails:
- Every file lives under one directory (default /var/lib/loupe-test/k8s), removed by stop();
  containerd gets its own root, state, socket and config there, so the host's containerd,
  podman and their images are untouched.
- The API server listens on the gateway address of the cluster's own bridge (created here, its
  subnet unused by anything else), so pods reach it and nothing else on the network can be
  confused with it; pods have no default route (CNI bridge without isDefaultGateway), so no
  pod can send anything off the machine, and ClusterIPs (no kube-proxy here) are unreachable.
- The kubelet runs with no cloud provider (the binaries are built `providerless`),
  AWS_EC2_METADATA_DISABLED=true, --node-ip=127.0.0.1, no iptables chains of its own, and
  images are never pulled: they are imported with `ctr images import` and pods use
  imagePullPolicy Never.
- The kubelet sets kernel sysctls (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops,
  vm.panic_on_oom, kernel.keys.*); the CNI bridge sets net.ipv4.ip_forward. All are saved
  before and restored by stop().
- Containers run through tests/kubernetes/runc-sandbox-wrapper (two sandbox-only adjustments,
  see that file).
- stop() deletes the pods (so the kubelet tears their sandboxes and networks down), stops every
  process started here, removes network namespaces, the bridge, mounts, cgroups and files.

Run as a script (`python3 tests/kubernetes/cluster.py up`) it brings the cluster up, prints the
kubeconfig path and waits for SIGINT/SIGTERM, then stops it.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

NODE_NAME = "loupe-e2e-node"
BRIDGE = "loupek8s0"
CNI_NETWORK = "loupe-e2e"
POD_SUBNET = "10.244.57.0/24"
GATEWAY = "10.244.57.1"           # the bridge's address: the API server listens here
SERVICE_SUBNET = "10.244.58.0/24"  # ClusterIPs: no kube-proxy, nothing answers there
KUBERNETES_SERVICE_IP = "10.244.58.1"
API_PORT = 16443
ETCD_CLIENT_PORT = 23791
ETCD_PEER_PORT = 23801
KUBELET_PORT = 20250
PAUSE_IMAGE = "localhost/loupe-e2e/pause:catatonit"
# Host sysctls the kubelet and the CNI bridge plugin may change; restored on stop().
SAVED_SYSCTLS = ["vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic",
                 "kernel.panic_on_oops", "kernel.keys.root_maxkeys",
                 "kernel.keys.root_maxbytes", "net.ipv4.ip_forward"]
CNI_BIN = "/usr/lib/cni"
CNI_RESULTS = "/var/lib/cni/results"
RUNC_WRAPPER = os.path.join(HERE, "runc-sandbox-wrapper")
# Where the 1.20 kubelet writes container logs (fixed paths, not under --root-dir): entries
# that appear while the cluster runs are removed by stop().
POD_LOG_DIRS = ["/var/log/pods", "/var/log/containers"]


def run(cmd, check=True, timeout=120, **kwargs):
    result = subprocess.run(cmd, timeout=timeout, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {result.returncode}:\n"
                             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def sysctl_path(name):
    return "/proc/sys/" + name.replace(".", "/")


class Cluster:
    def __init__(self, bin_dir, base=None):
        self.bin = bin_dir
        self.base = base or os.environ.get("LOUPE_K8S_DIR", "/var/lib/loupe-test/k8s")
        self.pki = os.path.join(self.base, "pki")
        # Outside `base`, so they outlive stop(): the last run's logs, for whoever debugs it.
        self.logs = os.environ.get("LOUPE_K8S_LOGS", "/var/cache/loupe-test/k8s-logs")
        self.kubeconfig = os.path.join(self.base, "admin.kubeconfig")
        self.containerd_sock = os.path.join(self.base, "containerd", "containerd.sock")
        self.procs = {}          # name -> Popen, in start order
        self.sysctls = {}
        self.netns_before = set()
        self.pod_logs_before = {}
        self.cni_results_before = set()
        self.figures = {}

    # ------------------------------------------------------------------ helpers

    def kubectl(self, *args, check=True, timeout=120, input=None):
        return run([os.path.join(self.bin, "kubectl"), "--kubeconfig", self.kubeconfig, *args],
                   check=check, timeout=timeout, input=input)

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def ctr(self, *args, check=True, timeout=300, **kwargs):
        return run(["ctr", "--address", self.containerd_sock, "--namespace", "k8s.io", *args],
                   check=check, timeout=timeout, **kwargs)

    def _spawn(self, name, cmd, env=None):
        os.makedirs(self.logs, exist_ok=True)
        log = open(os.path.join(self.logs, name + ".log"), "a")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **(env or {})},
                                            start_new_session=True)
        log.close()

    def _alive(self, name):
        proc = self.procs[name]
        if proc.poll() is not None:
            with open(os.path.join(self.logs, name + ".log")) as f:
                tail = f.read()[-3000:]
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _wait(self, what, predicate, timeout, names=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in names:
                self._alive(name)
            try:
                if predicate():
                    return
            except (AssertionError, subprocess.SubprocessError, OSError, ValueError):
                pass  # a command that failed (not yet up): try again
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    # ------------------------------------------------------------------ bring-up

    def start(self):
        start = time.monotonic()
        if os.path.exists(self.base):
            self._cleanup_files()  # a run killed before its stop() left this behind
        os.makedirs(self.base)
        shutil.rmtree(self.logs, ignore_errors=True)
        self._save_sysctls()
        self.netns_before = listdir("/var/run/netns")
        self.pod_logs_before = {d: listdir(d) if os.path.isdir(d) else None
                                for d in POD_LOG_DIRS}
        self.cni_results_before = listdir(CNI_RESULTS)
        self._make_bridge()
        self._make_pki()
        self._start_etcd()
        self._start_apiserver()
        self._start_containerd()
        self._import_pause_image()
        self._start_controllers()
        self._start_kubelet()
        self.figures["cluster_bring_up_s"] = round(time.monotonic() - start, 1)

    def _save_sysctls(self):
        for name in SAVED_SYSCTLS:
            try:
                with open(sysctl_path(name)) as f:
                    self.sysctls[name] = f.read().strip()
            except OSError:
                pass
        with open(os.path.join(self.base, "sysctls.json"), "w") as f:
            json.dump(self.sysctls, f)

    def _make_bridge(self):
        # Created here (not by the CNI plugin) so that the API server can listen on its address
        # before the first pod exists.
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])

    def _make_pki(self):
        os.makedirs(self.pki)
        p = lambda name: os.path.join(self.pki, name)  # noqa: E731
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", p("ca.key"), "-out", p("ca.crt"), "-subj", "/CN=loupe-e2e-ca"])
        run(["openssl", "genrsa", "-out", p("sa.key"), "2048"])
        run(["openssl", "rsa", "-in", p("sa.key"), "-pubout", "-out", p("sa.pub")])
        self._cert("apiserver", "/CN=kube-apiserver",
                   f"subjectAltName=IP:{GATEWAY},IP:127.0.0.1,IP:{KUBERNETES_SERVICE_IP},"
                   "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                   "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")
        self._cert("admin", "/O=system:masters/CN=loupe-e2e-admin", None)
        self._cert("kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}", None)
        self._kubeconfig(self.kubeconfig, "admin")
        self._kubeconfig(os.path.join(self.base, "kubelet.kubeconfig"), "kubelet")

    def _cert(self, name, subject, san):
        p = lambda suffix: os.path.join(self.pki, name + suffix)  # noqa: E731
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p(".key"),
             "-out", p(".csr"), "-subj", subject])
        ext = p(".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
            if san:
                f.write(san + "\n")
        run(["openssl", "x509", "-req", "-in", p(".csr"), "-CA",
             os.path.join(self.pki, "ca.crt"), "-CAkey", os.path.join(self.pki, "ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", p(".crt")])

    def _kubeconfig(self, path, user):
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "loupe-e2e",
            "clusters": [{"name": "loupe-e2e", "cluster": {
                "server": f"https://{GATEWAY}:{API_PORT}",
                "certificate-authority": os.path.join(self.pki, "ca.crt")}}],
            "users": [{"name": user, "user": {
                "client-certificate": os.path.join(self.pki, user + ".crt"),
                "client-key": os.path.join(self.pki, user + ".key")}}],
            "contexts": [{"name": "loupe-e2e", "context": {"cluster": "loupe-e2e",
                                                          "user": user}}],
        }
        with open(path, "w") as f:
            json.dump(config, f)

    def _start_etcd(self):
        self._spawn("etcd", [
            "etcd", "--name", "loupe-e2e", "--data-dir", os.path.join(self.base, "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{ETCD_CLIENT_PORT}",
            "--advertise-client-urls", f"http://127.0.0.1:{ETCD_CLIENT_PORT}",
            "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
            "--initial-cluster", f"loupe-e2e=http://127.0.0.1:{ETCD_PEER_PORT}",
            "--listen-metrics-urls", "", "--log-level", "warn"])

    def _start_apiserver(self):
        p = lambda name: os.path.join(self.pki, name)  # noqa: E731
        self._spawn("kube-apiserver", [
            os.path.join(self.bin, "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
            f"--bind-address={GATEWAY}", f"--advertise-address={GATEWAY}",
            f"--secure-port={API_PORT}", "--insecure-port=0",
            f"--service-cluster-ip-range={SERVICE_SUBNET}",
            "--service-node-port-range=30000-30100",
            f"--tls-cert-file={p('apiserver.crt')}", f"--tls-private-key-file={p('apiserver.key')}",
            f"--client-ca-file={p('ca.crt')}",
            f"--kubelet-client-certificate={p('admin.crt')}",
            f"--kubelet-client-key={p('admin.key')}",
            f"--service-account-key-file={p('sa.pub')}",
            f"--service-account-signing-key-file={p('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false", "--v=1"])
        self._wait("the API server's /readyz", lambda: self.kubectl(
            "get", "--raw", "/readyz", check=False, timeout=10).stdout.strip() == "ok",
            120, names=["etcd", "kube-apiserver"])

    def restart_apiserver(self):
        self._terminate("kube-apiserver")
        self._start_apiserver()

    def _start_containerd(self):
        root = os.path.join(self.base, "containerd")
        os.makedirs(os.path.join(self.base, "cni", "net.d"))
        with open(os.path.join(self.base, "cni", "net.d", "10-loupe-e2e.conflist"), "w") as f:
            json.dump({"cniVersion": "0.4.0", "name": CNI_NETWORK, "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": True,
                "isDefaultGateway": False, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "subnet": POD_SUBNET,
                         "dataDir": os.path.join(self.base, "cni", "ipam")}}]}, f)
        config = os.path.join(root, "config.toml")
        os.makedirs(root, exist_ok=True)
        with open(config, "w") as f:
            f.write(f"""version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.containerd_sock}"
[ttrpc]
  address = "{root}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC_WRAPPER}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.base}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{root}/no-registries"
""")
        self._spawn("containerd", ["containerd", "--config", config, "--log-level", "warn"])
        self._wait("containerd's socket", lambda: run(
            ["ctr", "--address", self.containerd_sock, "version"], check=False,
            timeout=10).returncode == 0, 60, names=["containerd"])

    def _import_pause_image(self):
        with tempfile.TemporaryDirectory(dir=self.base) as tmp:
            rootfs = {"catatonit": "/usr/bin/catatonit"}
            archive = os.path.join(tmp, "pause.tar")
            write_oci_archive(archive, PAUSE_IMAGE, rootfs, ["/catatonit", "-P"])
            self.import_image(archive)

    def import_image(self, archive):
        self.ctr("images", "import", archive)

    def _start_controllers(self):
        p = lambda name: os.path.join(self.pki, name)  # noqa: E731
        self._spawn("kube-controller-manager", [
            os.path.join(self.bin, "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig}", "--port=0", "--secure-port=0",
            f"--service-account-private-key-file={p('sa.key')}",
            f"--root-ca-file={p('ca.crt')}", "--use-service-account-credentials=false",
            f"--service-cluster-ip-range={SERVICE_SUBNET}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
            "--profiling=false", "--v=1"])
        self._spawn("kube-scheduler", [
            os.path.join(self.bin, "kube-scheduler"), f"--kubeconfig={self.kubeconfig}",
            "--port=0", "--secure-port=0", "--profiling=false", "--v=1"])

    def _start_kubelet(self):
        kubelet_dir = os.path.join(self.base, "kubelet")
        os.makedirs(kubelet_dir)
        config = os.path.join(self.base, "kubelet-config.json")
        with open(config, "w") as f:
            json.dump({
                "kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "address": "127.0.0.1", "port": KUBELET_PORT, "readOnlyPort": 0,
                "healthzPort": 0,
                "authentication": {"anonymous": {"enabled": False},
                                   "webhook": {"enabled": False},
                                   "x509": {"clientCAFile": os.path.join(self.pki, "ca.crt")}},
                "authorization": {"mode": "AlwaysAllow"},
                "cgroupDriver": "cgroupfs", "failSwapOn": False,
                "makeIPTablesUtilChains": False, "hairpinMode": "none",
                "resolvConf": "", "serializeImagePulls": False,
                "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
                "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                                 "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
                "tlsCertFile": os.path.join(self.pki, "kubelet.crt"),
                "tlsPrivateKeyFile": os.path.join(self.pki, "kubelet.key"),
                "enableServer": True, "maxPods": 250,
                "volumeStatsAggPeriod": "0s",
            }, f)
        self._spawn("kubelet", [
            os.path.join(self.bin, "kubelet"), f"--config={config}",
            f"--kubeconfig={os.path.join(self.base, 'kubelet.kubeconfig')}",
            f"--root-dir={kubelet_dir}", f"--cert-dir={os.path.join(self.base, 'pki')}",
            "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{self.containerd_sock}",
            f"--hostname-override={NODE_NAME}", "--node-ip=127.0.0.1",
            "--cloud-provider=", "--register-node=true", "--v=1"],
            env={"AWS_EC2_METADATA_DISABLED": "true"})

        def node_ready():
            node = self.kubectl_json("get", "node", NODE_NAME)
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in node["status"]["conditions"])
        self._wait("the node to be Ready", node_ready, 300,
                   names=["kubelet", "kube-apiserver", "containerd"])
        self._wait("the default service account", lambda: self.kubectl(
            "get", "serviceaccount", "default", check=False).returncode == 0, 60)

    # ------------------------------------------------------------------ tear-down

    def stop(self):
        """Stops everything started, even after a partial start; safe to call twice."""
        errors = []
        for step in (self._delete_pods, self._stop_processes, self._kill_leftover_tasks,
                     self._remove_netns, self._remove_bridge, self._unmount,
                     self._remove_cgroups, self._remove_pod_logs, self._restore_sysctls,
                     self._cleanup_files):
            try:
                step()
            except Exception as e:  # keep tearing down: every step must run
                errors.append(f"{step.__name__}: {e}")
        if errors:
            raise AssertionError("cluster stop: " + "; ".join(errors))

    def _delete_pods(self):
        """With the controllers stopped, pods deleted through the API are torn down by the
        kubelet itself (containers stopped, CNI DEL, sandboxes removed)."""
        if "kubelet" not in self.procs or self.procs["kubelet"].poll() is not None:
            return
        for name in ("kube-controller-manager", "kube-scheduler"):
            self._terminate(name)
        self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=5",
                     "--wait=false", check=False)

        def no_tasks():
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            return not tasks
        try:
            self._wait("the kubelet to stop every pod", no_tasks, 90)
        except AssertionError:
            pass  # _kill_leftover_tasks finishes the job

    def _terminate(self, name, timeout=20):
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def _stop_processes(self):
        for name in ["kubelet", "kube-scheduler", "kube-controller-manager", "kube-apiserver",
                     "etcd"]:
            self._terminate(name)

    def _kill_leftover_tasks(self):
        if "containerd" not in self.procs or self.procs["containerd"].poll() is not None:
            return
        for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        time.sleep(1)
        for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            self.ctr("tasks", "delete", "-f", task, check=False)
        for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
            self.ctr("containers", "delete", container, check=False)
        self._terminate("containerd", timeout=30)
        # containerd-shim-runc-v2 processes are not containerd's children; ours hold our root.
        for pid in pids_with_arg(os.path.join(self.base, "containerd")):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _remove_netns(self):
        if not os.path.isdir("/var/run/netns"):
            return
        for name in set(os.listdir("/var/run/netns")) - self.netns_before:
            if name.startswith("cni-"):
                run(["ip", "netns", "delete", name], check=False)

    def _remove_bridge(self):
        if os.path.exists(f"/sys/class/net/{BRIDGE}"):
            run(["ip", "link", "delete", BRIDGE])
        # containerd's libcni caches each attachment's result here (not configurable in 1.6).
        for name in listdir(CNI_RESULTS) - self.cni_results_before:
            if name.startswith((CNI_NETWORK + "-", "cni-loopback-")):
                os.remove(os.path.join(CNI_RESULTS, name))

    def _unmount(self):
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        ours = [m for m in points if m == self.base or m.startswith(self.base + "/")]
        for point in sorted(set(ours), key=len, reverse=True):
            run(["umount", "-l", point], check=False)

    def _remove_cgroups(self):
        """The kubelet's /kubepods trees (cgroupfs driver), deepest first."""
        for tree in glob.glob("/sys/fs/cgroup/*/kubepods"):
            for dirpath, _, _ in sorted(os.walk(tree), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass

    def _remove_pod_logs(self):
        for directory, before in self.pod_logs_before.items():
            if before is None:  # the kubelet made the directory itself
                shutil.rmtree(directory, ignore_errors=True)
                continue
            for name in listdir(directory) - before:
                path = os.path.join(directory, name)
                if os.path.islink(path) or not os.path.isdir(path):
                    os.remove(path)
                else:
                    shutil.rmtree(path)

    def _restore_sysctls(self):
        if not self.sysctls:
            saved = os.path.join(self.base, "sysctls.json")
            if os.path.exists(saved):
                with open(saved) as f:
                    self.sysctls = json.load(f)
        for name, value in self.sysctls.items():
            with open(sysctl_path(name), "w") as f:
                f.write(value)

    def _cleanup_files(self):
        if os.path.exists(self.base):
            self._unmount()
            shutil.rmtree(self.base)
        try:
            os.rmdir(os.path.dirname(self.base))  # /var/lib/loupe-test, when nothing else uses it
        except OSError:
            pass


def listdir(path):
    return set(os.listdir(path)) if os.path.isdir(path) else set()


def pids_with_arg(fragment):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if fragment.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def write_oci_archive(path, name, files, entrypoint, env=None):
    """A single-layer OCI image archive (docker-archive compatible index) of `files`
    ({path in image: host file}), for `ctr images import`: no registry, no podman."""
    import hashlib
    import io
    import tarfile

    def blob(tar, data):
        digest = hashlib.sha256(data).hexdigest()
        info = tarfile.TarInfo(f"blobs/sha256/{digest}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as layer:
        for target, source in sorted(files.items()):
            info = layer.gettarinfo(source, arcname=target)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(source, "rb") as f:
                layer.addfile(info, f)
    layer_data = layer_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_data).hexdigest()
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": entrypoint, "Env": env or [
                  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    with tarfile.open(path, "w") as tar:
        layer_desc = blob(tar, layer_data)
        config_desc = blob(tar, json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               **config_desc},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                **layer_desc}]}
        manifest_desc = blob(tar, json.dumps(manifest).encode())
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}]}
        for member, data in (("index.json", json.dumps(index).encode()),
                             ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def build_bin_dir():
    out = run(["bash", os.path.join(HERE, "build-binaries.sh")], timeout=7200)
    return out.stdout.strip().splitlines()[-1]


def main():
    if sys.argv[1:] != ["up"]:
        sys.exit("usage: cluster.py up")
    cluster = Cluster(build_bin_dir())
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        cluster.start()
        print(json.dumps({"kubeconfig": cluster.kubeconfig, "kubectl":
                          os.path.join(cluster.bin, "kubectl"), **cluster.figures}), flush=True)
        while not stopping:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
