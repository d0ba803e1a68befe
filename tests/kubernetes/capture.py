"""Captures real Kubernetes 1.20 API responses and pod cgroup files from the test cluster, for
the unit tests of the metadata source (fake API server) and of cgroup parsing.

Usage: python3 tests/kubernetes/capture.py OUT_DIR
Brings the cluster up (tests/kubernetes/cluster.py), creates a namespace with a Deployment, a Job
and a bare pod from the workload image, records what the API server answers to the requests the
agent makes, and stops the cluster. Bearer tokens are never written: requests that need one
read it from the cluster and the files hold only the answers.
"""
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster as k8s  # noqa: E402
import images  # noqa: E402

NAMESPACE = "capture"


class Api:
    """Raw HTTPS to the API server with the admin client certificate (or a bearer token)."""

    def __init__(self, c, token=None):
        self.base = f"https://{k8s.GATEWAY}:{k8s.API_PORT}"
        self.ctx = ssl.create_default_context(cafile=os.path.join(c.pki, "ca.crt"))
        self.token = token
        if token is None:
            self.ctx.load_cert_chain(os.path.join(c.pki, "admin.crt"),
                                     os.path.join(c.pki, "admin.key"))

    def open(self, path, timeout=30):
        request = urllib.request.Request(self.base + path)
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            return urllib.request.urlopen(request, context=self.ctx, timeout=timeout)
        except urllib.error.HTTPError as e:
            return e

    def get(self, path):
        resp = self.open(path)
        return resp.status if hasattr(resp, "status") else resp.code, resp.read()


def write(out, name, status, body, path, what):
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    return {"file": name, "request": f"GET {path}", "http_status": status, "what": what}


def pod_yaml(name, labels, args, restart="Always"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": images.WORKLOAD_IMAGE,
                                     "imagePullPolicy": "Never", "args": args}]}}


def apply(c, obj):
    c.kubectl("apply", "-f", "-", input=json.dumps(obj))


def capture(c, out):
    api = Api(c)
    index = []
    node_selector = f"fieldSelector=spec.nodeName%3D{k8s.NODE_NAME}"
    c.kubectl("create", "namespace", NAMESPACE)
    c._wait("the namespace's service account token", lambda: c.kubectl_json(
        "get", "-n", NAMESPACE, "serviceaccount", "default").get("secrets"), 60)
    # A Deployment (ReplicaSet owner chain), a Job, and a bare pod with an annotation.
    apply(c, {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": NAMESPACE,
                           "labels": {"app.kubernetes.io/name": "shop-web"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web",
                                                            "app.kubernetes.io/name": "shop-web"},
                                                 "annotations": {
                                                     "resource.opentelemetry.io/service.name":
                                                     "shop-frontend"}},
                                    "spec": {"terminationGracePeriodSeconds": 1,
                                             "containers": [{
                                                 "name": "server",
                                                 "image": images.WORKLOAD_IMAGE,
                                                 "imagePullPolicy": "Never",
                                                 "args": ["serve", ":8080"],
                                                 "env": [{"name": "OTEL_SERVICE_NAME",
                                                          "value": "from-env"}]}]}}}})
    apply(c, {"apiVersion": "batch/v1", "kind": "Job",
              "metadata": {"name": "once", "namespace": NAMESPACE},
              "spec": {"backoffLimit": 0, "template": {"spec": {
                  "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                  "containers": [{"name": "job", "image": images.WORKLOAD_IMAGE,
                                  "imagePullPolicy": "Never",
                                  "args": ["serve", ":8081"]}]}}}})
    c.kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "pod", "--all",
              "--timeout=120s")

    # A watch started now sees the bare pod ADDED, MODIFIED (running, then deleting), DELETED.
    rv = json.loads(api.get(f"/api/v1/pods?{node_selector}&limit=500")[1])["metadata"][
        "resourceVersion"]
    watch_path = (f"/api/v1/pods?{node_selector}&watch=1&resourceVersion={rv}"
                  "&allowWatchBookmarks=true&timeoutSeconds=25")
    watch_body = []

    def watch():
        resp = api.open(watch_path, timeout=40)
        watch_body.append(resp.read())
    thread = threading.Thread(target=watch)
    thread.start()
    time.sleep(1)
    apply(c, pod_yaml("churn", {"app": "churn"}, ["serve", ":8082"]))
    c.kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "pod/churn", "--timeout=60s")
    c.kubectl("delete", "-n", NAMESPACE, "pod/churn", "--wait=false")
    c._wait("the churn pod gone", lambda: c.kubectl(
        "get", "-n", NAMESPACE, "pod/churn", check=False).returncode != 0, 120)
    thread.join(60)
    index.append(write(out, "watch_pods_node.jsonl", 200, watch_body[0], watch_path,
                       "a watch stream (one JSON event per line) that saw a pod ADDED, "
                       "MODIFIED several times and DELETED; may end with BOOKMARK events"))

    path = f"/api/v1/pods?{node_selector}&limit=500"
    status, body = api.get(path)
    index.append(write(out, "list_pods_node.json", status, body, path,
                       "the node-scoped pod LIST (PodList): the capture namespace's Deployment "
                       "and Job pods plus the cluster's own"))
    pods = json.loads(body)["items"]
    web = next(p for p in pods if p["metadata"]["namespace"] == NAMESPACE and
               p["metadata"]["labels"].get("app") == "web")
    rs_name = web["metadata"]["ownerReferences"][0]["name"]
    for name, path, what in [
        ("replicaset.json", f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets/{rs_name}",
         "the web pod's owner ReplicaSet (ownerReferences -> Deployment web)"),
        ("deployment.json", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web",
         "the Deployment itself"),
        ("job.json", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/once",
         "a Job (no CronJob owner)"),
        ("replicaset_not_found.json",
         f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets/no-such-rs",
         "404 Status for an owner that does not exist"),
        ("list_pods_node_page1.json", f"/api/v1/pods?{node_selector}&limit=1",
         "the first page of a paginated LIST (metadata.continue set)"),
    ]:
        status, body = api.get(path)
        index.append(write(out, name, status, body, path, what))
    page = json.loads(body)
    if page["metadata"].get("continue"):
        path = (f"/api/v1/pods?{node_selector}&limit=1&continue="
                f"{urllib.request.quote(page['metadata']['continue'])}")
        status, body = api.get(path)
        index.append(write(out, "list_pods_node_page2.json", status, body, path,
                           "the second page"))

    # 410 Gone, as the agent meets it: etcd compacted past a LIST's exact resourceVersion, and
    # an API server restarted since the watch's resourceVersion (its watch cache starts later).
    now_rv = json.loads(api.get(f"/api/v1/pods?{node_selector}&limit=1")[1])["metadata"][
        "resourceVersion"]
    compact = urllib.request.Request(
        f"http://127.0.0.1:{k8s.ETCD_CLIENT_PORT}/v3/kv/compaction",
        data=json.dumps({"revision": now_rv, "physical": True}).encode(), method="POST")
    urllib.request.urlopen(compact, timeout=30).read()
    path = (f"/api/v1/pods?{node_selector}&resourceVersion={rv}&resourceVersionMatch=Exact"
            "&limit=500")
    status, body = api.get(path)
    index.append(write(out, "list_pods_gone.json", status, body, path,
                       f"a LIST at an exact resourceVersion ({rv}) that etcd has compacted "
                       f"(at {now_rv}): 410 Status, reason Expired"))
    c.restart_apiserver()
    path = (f"/api/v1/pods?{node_selector}&watch=1&resourceVersion={rv}"
            "&allowWatchBookmarks=true&timeoutSeconds=10")
    resp = api.open(path, timeout=30)
    index.append(write(out, "watch_pods_gone.jsonl", getattr(resp, "status", None) or
                       resp.code, resp.read(), path,
                       f"a watch from resourceVersion {rv} after etcd compacted at {now_rv} "
                       "and the API server restarted: the 410 (too old resource version) as "
                       "the server sends it to a watch"))

    # 403: the namespace's default service account may not list pods.
    secret = c.kubectl_json("get", "-n", NAMESPACE, "serviceaccount", "default")["secrets"][0][
        "name"]
    import base64
    token = base64.b64decode(c.kubectl_json("get", "-n", NAMESPACE, "secret", secret)[
        "data"]["token"]).decode()
    path = f"/api/v1/pods?{node_selector}"
    status, body = Api(c, token=token).get(path)
    index.append(write(out, "list_pods_forbidden.json", status, body, path,
                       "403 Status: a service account without RBAC for pods (token not kept)"))
    status, body = Api(c, token="not-a-token").get(path)
    index.append(write(out, "list_pods_unauthorized.json", status, body, path,
                       "401 Status: an invalid bearer token"))

    # /proc/<pid>/cgroup of the pods' processes (cgroup v1 on this machine, cgroupfs driver).
    cgroups = []
    for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                text = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "kubepods" in text:
            cgroups.append((pid, cmdline, text))
    containers = {}
    for pod in c.kubectl_json("get", "pods", "-A")["items"]:
        for status in pod["status"].get("containerStatuses", []):
            containers[status.get("containerID", "").split("//")[-1]] = (
                pod["metadata"]["namespace"], pod["metadata"]["name"], status["name"])
    for i, (pid, cmdline, text) in enumerate(cgroups):
        name = f"cgroup_v1_containerd_cgroupfs_{i}.txt"
        owner = next((v for k, v in containers.items() if k and k in text), None)
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
        index.append({"file": name, "request": f"/proc/{pid}/cgroup of {cmdline}",
                      "what": "container " + ("/".join(owner) + " id " + next(
                          k for k in containers if k and k in text) if owner else
                          "(pod sandbox: catatonit pause process)")})
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    return index


README_HEAD = """# Captures from a real Kubernetes 1.20 cluster

Made by `tests/kubernetes/capture.py` on the single-node Kubernetes 1.20.2 of the cluster test
(Debian's source package, etcd 3.4, containerd 1.6 with the cgroupfs driver, cgroup v1
hierarchies). Namespace `capture`: Deployment `web` (ReplicaSet owner; its pod template has the
label app.kubernetes.io/name=shop-web, the annotation resource.opentelemetry.io/service.name=
shop-frontend and the container env OTEL_SERVICE_NAME=from-env), Job `once`, and a bare pod
`churn` created and deleted while a watch ran. Node name `loupe-e2e-node`. The API answers are
byte for byte what the API server sent (JSON); requests with a bearer token do not record it.

| file | request | HTTP status | what |
| --- | --- | --- | --- |
"""


def write_readme(out, index):
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(README_HEAD)
        for entry in index:
            f.write(f"| `{entry['file']}` | `{entry['request']}` | "
                    f"{entry.get('http_status', '')} | {entry['what']} |\n")


def main():
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    c = k8s.Cluster(k8s.build_bin_dir())
    try:
        c.start()
        with tempfile.TemporaryDirectory() as tmp:
            c.import_image(images.workload_archive(tmp))
        index = capture(c, out)
        write_readme(out, index)
        for entry in index:
            print(entry["file"], entry.get("http_status", ""), entry["what"])
    finally:
        c.stop()


if __name__ == "__main__":
    main()
