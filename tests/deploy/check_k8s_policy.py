#!/usr/bin/env python3
"""Checks the Loupe Kubernetes manifests for the properties the agent and its users rely on.

Schema validity is checked by validate_k8s.mjs; this checks intent: least capabilities, the
host access the agent needs and no more, probes, resources, scraping, read-only RBAC, and that
kustomization.yaml lists every manifest.

Usage: check_k8s_policy.py DIR            check the manifests in DIR
       check_k8s_policy.py --self-test DIR  check DIR, then check that broken copies fail
"""
import copy
import sys
from pathlib import Path

import yaml

# docs/deploy.md "Capabilities": SYS_ADMIN because uprobes (HTTPS) need it on current kernels.
CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_RESOURCE"}
CONFIG_KEYS = {"log_level", "listen_address", "series_budget_per_service", "exclude_processes",
               "selection", "otlp"}
SECURITY_CONTEXT_KEYS = {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem",
                         "runAsUser", "runAsGroup", "runAsNonRoot", "capabilities",
                         "seccompProfile", "appArmorProfile", "seLinuxOptions", "procMount"}
PROBES = {"startupProbe": "/health/startup", "livenessProbe": "/health/live",
          "readinessProbe": "/health/ready"}
PORT = 9400


def load(directory):
    """Returns ({(kind, name): object}, kustomization)."""
    objects = {}
    kustomization = None
    for path in sorted(Path(directory).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            if doc.get("kind") == "Kustomization":
                kustomization = doc
                continue
            doc["__file__"] = path.name
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects, kustomization


def check(objects, kustomization, directory):
    errors = []

    def need(condition, message):
        if not condition:
            errors.append(message)

    files = {p.name for p in Path(directory).glob("*.yaml")} - {"kustomization.yaml"}
    need(kustomization is not None, "kustomization.yaml is missing")
    if kustomization:
        listed = set(kustomization.get("resources", []))
        need(listed == files, f"kustomization resources {sorted(listed)} != files {sorted(files)}")
        need(kustomization.get("namespace") == "loupe", "kustomization namespace must be loupe")

    need(("Namespace", "loupe") in objects, "no Namespace loupe")
    for (kind, name), obj in objects.items():
        if kind not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            need(obj["metadata"].get("namespace") == "loupe", f"{kind}/{name} not in namespace loupe")

    role = objects.get(("ClusterRole", "loupe"), {})
    need(role, "no ClusterRole loupe")
    # Exactly what userspace/k8s/ reads: this node's pods (list, watch), one ReplicaSet or Job per
    # owner lookup (get). Nothing else, and never a write.
    granted = {}
    for rule in role.get("rules", []):
        need(set(rule.get("verbs", [])) <= {"get", "list", "watch"},
             f"ClusterRole grants more than read: {rule.get('verbs')}")
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                granted.setdefault(f"{group}/{res}", set()).update(rule.get("verbs", []))
    expected = {"/pods": {"list", "watch"}, "apps/replicasets": {"get"}, "batch/jobs": {"get"}}
    need(granted == expected,
         f"ClusterRole grants {sorted((k, sorted(v)) for k, v in granted.items())}, "
         f"the code reads {sorted((k, sorted(v)) for k, v in expected.items())}")
    binding = objects.get(("ClusterRoleBinding", "loupe"), {})
    need(binding.get("roleRef", {}).get("name") == "loupe", "ClusterRoleBinding must bind loupe")
    need({"kind": "ServiceAccount", "name": "loupe", "namespace": "loupe"} in binding.get("subjects", []),
         "ClusterRoleBinding must name ServiceAccount loupe/loupe")
    need(("ServiceAccount", "loupe") in objects, "no ServiceAccount loupe")

    cm = objects.get(("ConfigMap", "loupe-config"), {})
    config = yaml.safe_load(cm.get("data", {}).get("config.yaml", "")) or {}
    need(config and set(config) <= CONFIG_KEYS, f"config.yaml keys {sorted(config)} not within {sorted(CONFIG_KEYS)}")
    need(set(config.get("otlp", {}) or {}) <= {"endpoint"}, "otlp may only hold endpoint")
    need(config.get("listen_address", "0.0.0.0:9400").endswith(f":{PORT}"), "listen_address must use port 9400")

    ds = objects.get(("DaemonSet", "loupe"))
    need(ds is not None, "no DaemonSet loupe")
    if ds is None:
        return errors
    pod = ds["spec"]["template"]["spec"]
    pod_labels = ds["spec"]["template"]["metadata"].get("labels", {})
    annotations = ds["spec"]["template"]["metadata"].get("annotations", {})
    need(ds["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), "selector must match pod labels")
    need(annotations.get("prometheus.io/scrape") == "true", "pod needs prometheus.io/scrape: \"true\"")
    need(annotations.get("prometheus.io/port") == str(PORT), "pod needs prometheus.io/port: \"9400\"")
    need(pod.get("hostPID") is True, "hostPID must be true (the agent reads host /proc)")
    need(not pod.get("hostNetwork", False), "hostNetwork is not needed")
    need(pod.get("serviceAccountName") == "loupe", "serviceAccountName must be loupe")
    need(pod.get("priorityClassName") == "system-node-critical", "priorityClassName must be system-node-critical")
    need({"operator": "Exists"} in pod.get("tolerations", []), "needs a toleration {operator: Exists}")
    strategy = ds["spec"].get("updateStrategy", {})
    need(strategy.get("type") == "RollingUpdate" and strategy.get("rollingUpdate", {}).get("maxUnavailable") == 1,
         "updateStrategy must be RollingUpdate with maxUnavailable 1")

    containers = pod.get("containers", [])
    need(len(containers) == 1, "exactly one container")
    c = containers[0] if containers else {}
    sc = c.get("securityContext", {})
    need(set(sc) <= SECURITY_CONTEXT_KEYS, f"unknown securityContext fields {sorted(set(sc) - SECURITY_CONTEXT_KEYS)}")
    need(sc.get("privileged") is False, "privileged must be false (documented fallback only)")
    need(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
    need(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
    caps = sc.get("capabilities", {})
    need(caps.get("drop") == ["ALL"], "capabilities.drop must be [ALL]")
    need(set(caps.get("add", [])) == CAPS and len(caps.get("add", [])) == len(CAPS),
         f"capabilities.add must be exactly {sorted(CAPS)}, got {caps.get('add')}")
    for pod_sc_key in ("securityContext",):
        need("privileged" not in pod.get(pod_sc_key, {}), "no pod-level privileged")

    need(c.get("args", [])[:2] == ["--config", "/etc/loupe/config.yaml"], "args must pass --config /etc/loupe/config.yaml")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    need(ports.get("metrics") == PORT, "container port metrics must be 9400")
    for probe, path in PROBES.items():
        get = c.get(probe, {}).get("httpGet", {})
        need(get.get("path") == path, f"{probe} must GET {path}")
        need(get.get("port") in ("metrics", PORT), f"{probe} must use port 9400")
    res = c.get("resources", {})
    need(res.get("requests") == {"cpu": "50m", "memory": "64Mi"}, f"requests must be cpu 50m memory 64Mi, got {res.get('requests')}")
    need(res.get("limits") == {"cpu": "500m", "memory": "256Mi"}, f"limits must be cpu 500m memory 256Mi, got {res.get('limits')}")
    env = {e["name"]: e for e in c.get("env", [])}
    need(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
         "NODE_NAME must come from spec.nodeName")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    host_paths = {v["hostPath"]["path"]: v for v in volumes.values() if "hostPath" in v}
    need(set(host_paths) <= {"/sys/kernel/btf", "/sys/fs/bpf", "/sys/kernel/tracing"},
         f"unexpected hostPath volumes {sorted(host_paths)}")
    btf = host_paths.get("/sys/kernel/btf")
    need(btf is not None and btf["hostPath"].get("type") == "Directory", "/sys/kernel/btf hostPath (type Directory) needed")
    need(mounts.get("/sys/kernel/btf", {}).get("readOnly") is True, "/sys/kernel/btf must be mounted read-only")
    need("/sys/fs/bpf" in host_paths and "/sys/fs/bpf" in mounts, "/sys/fs/bpf must be mounted")
    tracing = mounts.get("/sys/kernel/tracing")
    need(tracing is None or tracing.get("readOnly") is True, "/sys/kernel/tracing must be read-only")
    for path, volume in host_paths.items():
        need(volume["hostPath"].get("type") in ("Directory", "DirectoryOrCreate"), f"{path}: hostPath type must be Directory(OrCreate)")
    config_mount = mounts.get("/etc/loupe", {})
    need(volumes.get(config_mount.get("name"), {}).get("configMap", {}).get("name") == "loupe-config",
         "/etc/loupe must mount ConfigMap loupe-config")

    svc = objects.get(("Service", "loupe"), {})
    need(svc.get("spec", {}).get("selector", {}).items() <= pod_labels.items() and svc.get("spec", {}).get("selector"),
         "Service selector must match the agent pods")
    need(any(p.get("port") == PORT and p.get("name") == "metrics" for p in svc.get("spec", {}).get("ports", [])),
         "Service must expose port metrics 9400")
    sm = objects.get(("ServiceMonitor", "loupe"), {})
    need(sm.get("spec", {}).get("selector", {}).get("matchLabels", {}).items() <= svc.get("metadata", {}).get("labels", {}).items(),
         "ServiceMonitor selector must match the Service labels")
    need(any(e.get("port") == "metrics" and e.get("path", "/metrics") == "/metrics" for e in sm.get("spec", {}).get("endpoints", [])),
         "ServiceMonitor must scrape port metrics at /metrics")
    return errors


def mutations():
    """Broken variants that check() must reject: (description, function(objects))."""
    def ds(o):
        return o[("DaemonSet", "loupe")]

    def ctr(o):
        return ds(o)["spec"]["template"]["spec"]["containers"][0]

    return [
        ("privileged", lambda o: ctr(o)["securityContext"].update(privileged=True)),
        ("extra SYS_MODULE", lambda o: ctr(o)["securityContext"]["capabilities"]["add"].append("SYS_MODULE")),
        ("missing BPF", lambda o: ctr(o)["securityContext"]["capabilities"]["add"].remove("BPF")),
        ("no drop ALL", lambda o: ctr(o)["securityContext"]["capabilities"].pop("drop")),
        ("typo readOnlyRootFileSystem", lambda o: ctr(o)["securityContext"].update(
            readOnlyRootFileSystem=ctr(o)["securityContext"].pop("readOnlyRootFilesystem"))),
        ("no hostPID", lambda o: ds(o)["spec"]["template"]["spec"].update(hostPID=False)),
        ("wrong liveness path", lambda o: ctr(o)["livenessProbe"]["httpGet"].update(path="/healthz")),
        ("no startup probe", lambda o: ctr(o).pop("startupProbe")),
        ("memory limit", lambda o: ctr(o)["resources"]["limits"].update(memory="1Gi")),
        ("writable btf", lambda o: [m.update(readOnly=False) for m in ctr(o)["volumeMounts"] if m["mountPath"] == "/sys/kernel/btf"]),
        ("host root mount", lambda o: ds(o)["spec"]["template"]["spec"]["volumes"].append(
            {"name": "root", "hostPath": {"path": "/", "type": "Directory"}})),
        ("rbac write", lambda o: o[("ClusterRole", "loupe")]["rules"][0]["verbs"].append("delete")),
        ("rbac secrets", lambda o: o[("ClusterRole", "loupe")]["rules"][0]["resources"].append("secrets")),
        ("rbac pods get", lambda o: o[("ClusterRole", "loupe")]["rules"][0]["verbs"].append("get")),
        ("rbac no jobs", lambda o: o[("ClusterRole", "loupe")]["rules"].pop()),
        ("unknown config key", lambda o: o[("ConfigMap", "loupe-config")]["data"].update(
            {"config.yaml": "log_level: info\ntracing: true\n"})),
        ("service selector", lambda o: o[("Service", "loupe")]["spec"].update(selector={"app": "other"})),
        ("no tolerations", lambda o: ds(o)["spec"]["template"]["spec"].pop("tolerations")),
    ]


def main(argv):
    self_test = "--self-test" in argv
    args = [a for a in argv[1:] if a != "--self-test"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = args[0]
    objects, kustomization = load(directory)
    errors = check(objects, kustomization, directory)
    for e in errors:
        print(f"FAIL {e}")
    if errors:
        return 1
    print(f"ok   {len(objects)} objects in {directory} pass the policy")
    if self_test:
        missed = 0
        for name, mutate in mutations():
            broken = copy.deepcopy(objects)
            mutate(broken)
            found = check(broken, kustomization, directory)
            print(f"{'ok  ' if found else 'MISS'} mutation '{name}' -> {found[:1]}")
            missed += 0 if found else 1
        if missed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
