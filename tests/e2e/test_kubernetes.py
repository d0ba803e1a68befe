"""End-to-end: the DaemonSet on a real single-node Kubernetes 1.20 cluster.

The cluster (tests/kubernetes/cluster.py) is built from Debian's source package `kubernetes`
(binaries cached, tests/kubernetes/build-binaries.sh), etcd-server, containerd with its own root
and socket, the CNI bridge, and a catatonit pause image; it runs only on this machine and
everything it started is stopped at the end, host sysctls restored. Images are imported with
`ctr images import`, never pulled: the agent image the container test built (podman save of its
project-owned storage) and the workload (tests/kubernetes/workload, a static Go server/client).

In order:
1. deploy/kubernetes through a test overlay (image -> the local one with imagePullPolicy Never;
   the API server's address, since there is no kube-proxy for the ClusterIP; an OTLP endpoint:
   a receiver in the test) plus a minimal ServiceMonitor CRD: the DaemonSet becomes Ready
   through its startup/readiness probes.
2. `kubectl apply --dry-run=server --validate=true` of deploy/kubernetes as shipped (kubectl
   1.20's schema validation against the server's OpenAPI: unknown fields fail).
3. A workload Deployment and a client pod: the requests are counted exactly in Prometheus under
   the Deployment's service name and namespace; OTLP spans and metrics carry the k8s.* resource.
4. `kubectl rollout restart` of the workload: counts stay exact, the agent's memory flat.
5. Pod churn: the agent's RSS with 0 and with N pods (default 50: the count that has passed here; 200 by hand with LOUPE_K8S_CHURN_PODS=200) created and deleted.
6. `kubectl delete -k` of the overlay leaves nothing of Loupe behind.

Assertions on Kubernetes identity (k8s.* attributes, service names from the Deployment, the
service_namespace label, the OTLP metrics' resource) apply once the code for each is in this
tree (see source_has below); before that the same counts are asserted under the process view's
name. Needs root; ctest labels `root;e2e;kubernetes`. Prints its figures as one JSON line.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "kubernetes"))
from harness import (OtlpReceiver, STRICT, http_get, metric_sum, parse_metrics, pump,  # noqa: E402
                     require, wait_until)
import cluster as k8s  # noqa: E402
import images  # noqa: E402

CONTAINER_CACHE = os.environ.get("LOUPE_CONTAINER_CACHE", "/var/cache/loupe-test/container")
AGENT_IMAGE = "localhost/loupe:e2e"  # built by tests/e2e/test_container.py
SHIPPED_IMAGE = "ghcr.io/loupe-dev/loupe"
DEPLOY = os.path.join(REPO, "deploy", "kubernetes")
CRD = os.path.join(REPO, "tests", "kubernetes", "servicemonitor-crd.yaml")
SHOP = "loupe-e2e-shop"   # the workload's namespace
WORKLOAD = "web"          # its Deployment
CONTAINER = "server"
PORT = 8080
PATHS = ["/ok", "/ok", "/ok", "/missing/1", "/missing/2"]  # 3 x 200, 2 x 404
SERVER = "http_server_request_duration_seconds_count"
CHURN_PODS = int(os.environ.get("LOUPE_K8S_CHURN_PODS", "50"))
CHURN_STEP = 25


def source_has(path, text):
    """Whether the tree the agent image was built from (this checkout) contains `text`."""
    try:
        with open(os.path.join(REPO, path)) as f:
            return text in f.read()
    except OSError:
        return False


# Parts of issue 15 that other changes deliver; each assertion applies once its code is in the
# tree the image was built from, so the test lands first and tightens by itself.
# - the metadata source wired into the agent, and container ids: Deployment-named services and
#   k8s.* on spans;
KUBERNETES_IDENTITY = (source_has("userspace/process/container_id.h", "") and
                       source_has("userspace/daemon/agent.cc", "Kubernetes"))
# - the Prometheus label for the Kubernetes namespace;
PROMETHEUS_NAMESPACE = source_has("userspace/metrics/red_metrics.cc", "service_namespace")
# - OTLP metrics carrying the workload's resource instead of one rebuilt from the name.
OTLP_METRIC_RESOURCE = source_has("exporters/otlp/metric_conversion.h", "ServiceResources")
FIGURES = {"kubernetes": "1.20 (Debian source package, single node)"}


class Forwarder:
    """TCP from the cluster bridge's address to a 127.0.0.1 port: the OTLP receiver listens on
    loopback only and the agent's pod reaches the host at the bridge's gateway address."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((k8s.GATEWAY, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()


def overlay(directory, otlp_endpoint):
    """The test overlay over deploy/kubernetes (kustomize as embedded in kubectl 1.20)."""
    with open(os.path.join(directory, "kustomization.yaml"), "w") as f:
        json.dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                   "bases": [os.path.relpath(DEPLOY, directory)],
                   "images": [{"name": SHIPPED_IMAGE, "newName": AGENT_IMAGE.split(":")[0],
                               "newTag": AGENT_IMAGE.split(":")[1]}],
                   "patchesStrategicMerge": ["daemonset.yaml"]}, f)
    env = [{"name": "KUBERNETES_SERVICE_HOST", "value": k8s.GATEWAY},
           {"name": "KUBERNETES_SERVICE_PORT", "value": str(k8s.API_PORT)},
           {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": otlp_endpoint}]
    with open(os.path.join(directory, "daemonset.yaml"), "w") as f:
        json.dump({"apiVersion": "apps/v1", "kind": "DaemonSet",
                   "metadata": {"name": "loupe", "namespace": "loupe"},
                   "spec": {"template": {"spec": {"containers": [{
                       "name": "loupe", "imagePullPolicy": "Never", "env": env}]}}}}, f)


def workload_manifest(replicas=1):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": WORKLOAD, "namespace": SHOP},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": WORKLOAD}},
                     "template": {"metadata": {"labels": {"app": WORKLOAD}},
                                  "spec": {"terminationGracePeriodSeconds": 2,
                                           "containers": [{
                                               "name": CONTAINER,
                                               "image": images.WORKLOAD_IMAGE,
                                               "imagePullPolicy": "Never",
                                               "args": ["serve", f":{PORT}"],
                                               "ports": [{"containerPort": PORT}],
                                               "readinessProbe": {"tcpSocket": {"port": PORT},
                                                                  "periodSeconds": 1}}]}}}}


def client_pod(name, server_ip):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": SHOP},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "client", "image": images.WORKLOAD_IMAGE, "imagePullPolicy": "Never",
                "args": ["get", *[f"http://{server_ip}:{PORT}{p}" for p in PATHS]]}]}}


def churn_manifest(replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "churn", "namespace": SHOP},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "churn"}},
                     "template": {"metadata": {"labels": {"app": "churn"}},
                                  "spec": {"terminationGracePeriodSeconds": 0,
                                           "containers": [{
                                               "name": "idle", "image": k8s.PAUSE_IMAGE,
                                               "imagePullPolicy": "Never",
                                               "resources": {"requests": {"cpu": "1m"}}}]}}}}


class KubernetesE2E(unittest.TestCase):
    cluster = None

    @classmethod
    def setUpClass(cls):
        require(os.geteuid() == 0, "needs root")
        for tool in ("etcd", "containerd", "ctr", "runc", "catatonit", "go", "podman",
                     "openssl", "dpkg-source"):
            require(shutil.which(tool), f"{tool} is not installed (scripts/install-deps.sh)")
        require(os.path.exists(f"{k8s.CNI_BIN}/bridge"), "containernetworking-plugins missing")
        cls.tmp = tempfile.mkdtemp(prefix="loupe-k8s-e2e-")
        start = time.monotonic()
        bin_dir = k8s.build_bin_dir()
        with open(os.path.join(os.path.dirname(bin_dir), "BUILT")) as f:
            FIGURES["binaries"] = f.read().strip()
        FIGURES["binaries_step_s"] = round(time.monotonic() - start, 1)
        agent_tar = os.path.join(cls.tmp, "agent.tar")
        saved = subprocess.run(
            ["podman", "--root", os.path.join(CONTAINER_CACHE, "storage"), "--runroot",
             "/run/loupe-test/containers", "save", "--format", "docker-archive", "-o", agent_tar,
             AGENT_IMAGE], capture_output=True, text=True, timeout=600,
            env={**os.environ, "CONTAINERS_CONF": os.path.join(REPO, "tests", "container",
                                                               "containers.conf")})
        require(saved.returncode == 0, f"no {AGENT_IMAGE} in the container test's storage "
                f"(run e2e_container first): {saved.stderr.strip()[-300:]}")
        workload_tar = images.workload_archive(cls.tmp)
        cls.cluster = k8s.Cluster(bin_dir)
        try:
            cls.cluster.start()
            start = time.monotonic()
            for archive in (agent_tar, workload_tar):
                cls.cluster.import_image(archive)
            FIGURES["image_import_s"] = round(time.monotonic() - start, 1)
            cls.receiver = OtlpReceiver()
            cls.forwarder = Forwarder(cls.receiver.port)
            cls.overlay = os.path.join(cls.tmp, "overlay")
            os.makedirs(cls.overlay)
            overlay(cls.overlay, f"http://{k8s.GATEWAY}:{cls.forwarder.port}")
        except BaseException:
            cls.tearDownClass()
            raise
        FIGURES.update(cls.cluster.figures)

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "forwarder", None):
                cls.forwarder.close()
            if getattr(cls, "receiver", None):
                cls.receiver.stop()
            if cls.cluster:
                cls.cluster.stop()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            print(json.dumps(FIGURES), flush=True)

    # ------------------------------------------------------------------ helpers

    def kubectl(self, *args, **kwargs):
        return self.cluster.kubectl(*args, **kwargs)

    def apply(self, obj):
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def agent_pod(self):
        pods = self.cluster.kubectl_json("get", "pods", "-n", "loupe", "-l",
                                         "app.kubernetes.io/name=loupe")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        self.assertEqual(len(running), 1, [p["metadata"]["name"] for p in pods])
        return running[0]

    def agent_metrics(self):
        ip = self.agent_pod()["status"]["podIP"]
        status, body = http_get(9400, "/metrics", host=ip, timeout=5)
        self.assertEqual(status, 200)
        return parse_metrics(body.decode())

    def agent_rss_bytes(self):
        """The agent container's process RSS, read on the host (hostPID: same pid)."""
        container_id = self.agent_pod()["status"]["containerStatuses"][0]["containerID"]
        container_id = container_id.split("//", 1)[1]
        tasks = self.cluster.ctr("tasks", "ls").stdout.splitlines()[1:]
        pid = next(int(line.split()[1]) for line in tasks if line.split()[0] == container_id)
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def server_counts(self):
        match = self.server_labels()
        samples = self.agent_metrics()
        return {status: int(metric_sum(samples, SERVER, server_port=str(PORT),
                                       http_response_status_code=status, **match))
                for status in ("200", "404")}

    def server_labels(self):
        labels = {"service_name": WORKLOAD if KUBERNETES_IDENTITY else images.WORKLOAD_EXE}
        if PROMETHEUS_NAMESPACE:
            labels["service_namespace"] = SHOP
        return labels

    def run_client(self, name):
        server = self.cluster.kubectl_json("get", "pods", "-n", SHOP, "-l", f"app={WORKLOAD}")
        ready = [p for p in server["items"] if p["status"].get("podIP") and
                 p["metadata"].get("deletionTimestamp") is None and
                 all(c.get("ready") for c in p["status"].get("containerStatuses", [{}]))]
        self.assertEqual(len(ready), 1)
        self.apply(client_pod(name, ready[0]["status"]["podIP"]))
        wait_until(lambda: self.cluster.kubectl_json("get", "pod", "-n", SHOP, name)[
            "status"].get("phase") in ("Succeeded", "Failed"), timeout=120, interval=1,
            what=f"client pod {name}")
        phase = self.cluster.kubectl_json("get", "pod", "-n", SHOP, name)["status"]["phase"]
        log = self.pod_log(SHOP, name)
        self.assertEqual(phase, "Succeeded", log)
        return ready[0]

    def wait_counts(self, expected):
        try:
            wait_until(lambda: self.server_counts() == expected, timeout=30, interval=1,
                       what="exact counts")
        except AssertionError:
            samples = self.agent_metrics()
            lines = [f"{n}{labels} {v}" for n, labels, v in samples if n == SERVER]
            raise AssertionError(f"expected {expected}, got {self.server_counts()}\n"
                                 + "\n".join(lines) + "\n" + self.agent_logs())
        time.sleep(2.5)  # longer than the agent's pending timeout: a late duplicate shows now
        self.assertEqual(self.server_counts(), expected, "counts changed after settling")

    @staticmethod
    def pod_log(namespace, pod_prefix, lines=60):
        """A container's log read where the kubelet writes it: `kubectl logs` needs a node
        address the API server can reach, and the node has only 127.0.0.1 (refused as one)."""
        out = []
        for path in sorted(glob.glob(f"/var/log/pods/{namespace}_{pod_prefix}*/*/*.log")):
            with open(path, errors="replace") as f:
                out += [f"{path}:"] + f.read().splitlines()[-lines:]
        return "\n".join(out)

    def agent_logs(self):
        return self.pod_log("loupe", "loupe-")

    # ------------------------------------------------------------------ the tests, in order

    def test_1_daemonset_ready_through_its_probes(self):
        self.kubectl("apply", "-f", CRD)
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     "crd/servicemonitors.monitoring.coreos.com")
        start = time.monotonic()
        self.kubectl("apply", "-k", self.overlay)

        def ready():
            ds = self.cluster.kubectl_json("get", "daemonset", "-n", "loupe", "loupe")
            status = ds["status"]
            return (status.get("desiredNumberScheduled") == 1 and
                    status.get("numberReady") == 1)
        try:
            wait_until(ready, timeout=180, interval=1, what="the DaemonSet Ready")
        except AssertionError:
            pods = self.kubectl("describe", "pods", "-n", "loupe", check=False).stdout
            raise AssertionError(pods[-4000:] + "\n" + self.agent_logs())
        FIGURES["daemonset_ready_s"] = round(time.monotonic() - start, 1)
        pod = self.agent_pod()
        container = pod["status"]["containerStatuses"][0]
        self.assertTrue(container["ready"])
        self.assertEqual(container["image"].split("/")[-1], AGENT_IMAGE.split("/")[-1])
        self.assertEqual(http_get(9400, "/health/ready", host=pod["status"]["podIP"])[0], 200)

    def test_2_manifests_pass_server_dry_run(self):
        out = self.kubectl("apply", "-k", DEPLOY, "--dry-run=server", "--validate=true",
                           check=False)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("daemonset.apps/loupe", out.stdout)

    def test_3_workload_counted_exactly_with_its_identity(self):
        self.kubectl("create", "namespace", SHOP)
        self.apply(workload_manifest())
        self.kubectl("rollout", "status", "-n", SHOP, f"deployment/{WORKLOAD}", "--timeout=120s")
        server = self.run_client("client-1")
        self.wait_counts({"200": 3, "404": 2})
        FIGURES["prometheus_counts"] = "exact (3 x 200, 2 x 404)"
        FIGURES["prometheus_labels_checked"] = self.server_labels()
        if KUBERNETES_IDENTITY:
            self.check_otlp_identity(server)
        else:
            wait_until(lambda: any(s["_resource"].get("service.name") == images.WORKLOAD_EXE
                                   for s in self.receiver.spans()), timeout=60, interval=1,
                       what="OTLP spans of the workload")

    def check_otlp_identity(self, server):
        pod_name = server["metadata"]["name"]
        container_id = server["status"]["containerStatuses"][0]["containerID"].split("//")[1]
        expected_span_resource = {
            "service.name": WORKLOAD, "service.namespace": SHOP,
            "k8s.namespace.name": SHOP, "k8s.pod.name": pod_name,
            "k8s.pod.uid": server["metadata"]["uid"], "k8s.container.name": CONTAINER,
            "k8s.deployment.name": WORKLOAD, "k8s.node.name": k8s.NODE_NAME,
            "container.id": container_id}

        def span_resources():
            return [s["_resource"] for s in self.receiver.spans()
                    if s["_resource"].get("k8s.pod.name") == pod_name]
        wait_until(span_resources, timeout=60, interval=1, what="spans with the pod's identity")
        resource = span_resources()[0]
        self.assertEqual({k: resource.get(k) for k in expected_span_resource},
                         expected_span_resource)
        FIGURES["span_resource"] = {k: v for k, v in resource.items()
                                    if k.startswith(("k8s.", "service.", "container."))}

        def metric_resources():
            out = []
            with self.receiver.lock:
                requests = list(self.receiver.metric_requests)
            for request in requests:
                for rm in request.get("resource_metrics", []):
                    attrs = {a["key"]: next(iter(a["value"].values()))
                             for a in rm.get("resource", {}).get("attributes", [])}
                    if attrs.get("service.name") == WORKLOAD:
                        out.append(attrs)
            return out
        if not OTLP_METRIC_RESOURCE:
            return
        wait_until(metric_resources, timeout=90, interval=1, what="OTLP metrics of the workload")
        resource = metric_resources()[-1]
        for key in ("service.namespace", "k8s.namespace.name", "k8s.deployment.name"):
            self.assertIn(key, resource)
        self.assertEqual(resource["k8s.deployment.name"], WORKLOAD)
        self.assertEqual(resource["k8s.namespace.name"], SHOP)
        FIGURES["metric_resource"] = resource

    def test_4_rollout_restart_keeps_counts_and_memory(self):
        before = self.agent_rss_bytes()
        self.kubectl("rollout", "restart", "-n", SHOP, f"deployment/{WORKLOAD}")
        self.kubectl("rollout", "status", "-n", SHOP, f"deployment/{WORKLOAD}", "--timeout=120s")
        try:
            wait_until(lambda: len(self.cluster.kubectl_json(
                "get", "pods", "-n", SHOP, "-l", f"app={WORKLOAD}")["items"]) == 1,
                timeout=180, interval=1, what="the old workload pod gone")
        except AssertionError:
            pods = self.kubectl("describe", "pods", "-n", SHOP, check=False).stdout
            raise AssertionError("old workload pod still there:\n" + pods[-3000:])
        self.run_client("client-2")
        self.wait_counts({"200": 6, "404": 4})
        after = self.agent_rss_bytes()
        FIGURES["rss_mib_rollout"] = [round(before / 2**20, 1), round(after / 2**20, 1)]
        self.assertLess(after - before, 8 * 2**20, "agent memory grew over a rollout restart")

    def test_5_pod_churn_memory_bounded(self):
        rss_0 = self.agent_rss_bytes()
        start = time.monotonic()

        def running():
            pods = self.cluster.kubectl_json("get", "pods", "-n", SHOP, "-l", "app=churn")
            return sum(p["status"].get("phase") == "Running" for p in pods["items"])
        # In steps of CHURN_STEP: the kubelet starts all pending pods at once, and 200 sandboxes
        # at once put a 2-core machine at a load of 100.
        for replicas in range(min(CHURN_STEP, CHURN_PODS), CHURN_PODS + CHURN_STEP, CHURN_STEP):
            replicas = min(replicas, CHURN_PODS)
            self.apply(churn_manifest(replicas))
            wait_until(lambda: running() == replicas, timeout=60 + 8 * CHURN_STEP, interval=2,
                       what=f"{replicas} churn pods running")
        rss_peak = self.agent_rss_bytes()

        def existing():
            return len(self.cluster.kubectl_json("get", "pods", "-n", SHOP, "-l",
                                                 "app=churn")["items"])
        for replicas in range(CHURN_PODS - CHURN_STEP, -CHURN_STEP, -CHURN_STEP):
            replicas = max(replicas, 0)
            self.apply(churn_manifest(replicas))
            wait_until(lambda: existing() == replicas, timeout=60 + 8 * CHURN_STEP, interval=2,
                       what=f"churn pods down to {replicas}")
        self.kubectl("delete", "deployment", "-n", SHOP, "churn", "--wait=true")
        time.sleep(5)
        rss_after = self.agent_rss_bytes()
        FIGURES["churn"] = {"pods": CHURN_PODS, "s": round(time.monotonic() - start),
                            "rss_mib_0_pods": round(rss_0 / 2**20, 1),
                            "rss_mib_with_pods": round(rss_peak / 2**20, 1),
                            "rss_mib_after_delete": round(rss_after / 2**20, 1)}
        # Bounded: within docs/memory.md's 64 MiB budget after the churn (the figures show the
        # growth; stale pods leave the directory on DELETE).
        self.assertLess(rss_after, 64 * 2**20, "agent memory over its budget after pod churn")
        self.run_client("client-3")
        self.wait_counts({"200": 9, "404": 6})

    def test_6_delete_k_leaves_nothing(self):
        self.kubectl("delete", "namespace", SHOP, "--wait=true", "--timeout=120s")
        self.kubectl("delete", "-k", self.overlay, "--wait=true", "--timeout=180s")
        self.assertNotEqual(self.kubectl("get", "namespace", "loupe", check=False).returncode, 0)
        left = self.kubectl("get", "clusterroles,clusterrolebindings,podsecuritypolicies",
                            "-l", "app.kubernetes.io/name=loupe", "-o", "name",
                            check=False).stdout.split()
        left += [line for line in self.kubectl(
            "get", "clusterroles,clusterrolebindings", "-o", "name").stdout.split()
            if line.split("/")[-1].startswith("loupe")]
        self.assertEqual(left, [])
        tasks = self.cluster.ctr("tasks", "ls").stdout.splitlines()[1:]
        agent_containers = [t for t in self.cluster.ctr("containers", "ls").stdout.splitlines()
                            if AGENT_IMAGE in t]
        self.assertEqual(agent_containers, [], tasks)


if __name__ == "__main__":
    unittest.main(verbosity=2, failfast=STRICT)
