"""End-to-end: the container image is built and run as the DaemonSet runs it.

1. A Debian bookworm base image is made without any registry: `debootstrap --variant=minbase`
   from the Debian mirror this host's apt uses, then `podman import`. It is cached in podman's
   storage under a tag keyed by everything that goes into it, and rebuilt when the key changes or
   the image is older than BASE_MAX_AGE_DAYS.
2. `podman build --pull=never -f deploy/Dockerfile` with that base (the Dockerfile's BUILD_IMAGE
   and RUNTIME_IMAGE arguments); apt inside the build reaches Debian's archive over the host's
   network. This compiles Loupe in the container.
3. The image is run with the DaemonSet's pod spec translated to podman flags, read from
   deploy/kubernetes/daemonset.yaml at test time (capabilities, read-only root, no privilege
   escalation, user, seccomp, host PID/network, hostPath and ConfigMap mounts, resource limits,
   grace period). A field the translation does not know fails the test rather than being
   ignored.
4. Asserts: no shell in the image; /health/ready answers 200; an HTTP request to a Python server
   and HTTPS requests to nginx (libssl, through uprobes), all on the host, are counted exactly;
   SIGTERM stops the agent with exit code 0 within the grace period.

Podman runs with tests/container/containers.conf (CONTAINERS_CONF: runc, cgroupfs, ulimits the
sandbox allows) and a project-owned storage root (LOUPE_CONTAINER_CACHE, default
/var/cache/loupe-test/container), so nothing of the host's podman setup is used or changed.
Needs root; ctest labels `root;e2e;container`. Prints its figures as one JSON line.
"""
import fcntl
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tls"))
from harness import (PythonServer, free_port, http_get, metric_sum, parse_metrics,  # noqa: E402
                     require, wait_until)
from tls_servers import HttpsNginx  # noqa: E402

CONTAINERS_CONF = os.path.join(REPO, "tests", "container", "containers.conf")
CACHE = os.environ.get("LOUPE_CONTAINER_CACHE", "/var/cache/loupe-test/container")
STORAGE = os.path.join(CACHE, "storage")
RUNROOT = "/run/loupe-test/containers"
DAEMONSET = os.path.join(REPO, "deploy", "kubernetes", "daemonset.yaml")
CONFIGMAP = os.path.join(REPO, "deploy", "kubernetes", "configmap.yaml")
SUITE = "bookworm"
BASE_REPO = "localhost/loupe-test-base"
BASE_MAX_AGE_DAYS = 14
# Bump when the way the base image is made changes: the cache key includes it.
BASE_RECIPE = "1: debootstrap minbase + host's bookworm apt sources, apt lists and debs removed"
IMAGE = "localhost/loupe:e2e"
CACHE_TAG = "localhost/loupe-e2e-cache:stage"  # tags that keep the build stages' layers
BUILD_TIMEOUT = int(os.environ.get("LOUPE_CONTAINER_BUILD_TIMEOUT", "2400"))
SERVER = "http_server_request_duration_seconds_count"
HTTP_PATHS = ["/ok", "/ok", "/ok", "/missing/1", "/missing/2"]  # Python server: 3 x 200, 2 x 404
HTTP_SERVICE = "e2e-container-http"
HTTPS_REQUESTS = 4   # curl to nginx over TLS: 4 x 200, each on a new connection
FIGURES = {}


def podman_cmd(*args):
    return ["podman", "--root", STORAGE, "--runroot", RUNROOT, *args]


def podman(*args, check=True, timeout=120, **kwargs):
    return subprocess.run(podman_cmd(*args), check=check, timeout=timeout, text=True,
                          capture_output=True, env=podman_env(), **kwargs)


def podman_env():
    return {**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF}


# ---------------------------------------------------------------- base image (no registry)

def apt_sources():
    """[(uri, suite, components)] of this host's enabled `deb` sources for bookworm (one-line
    .list and deb822 .sources files); other vendors' repositories are left out."""
    entries = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        with open(path) as f:
            lines = f.read().splitlines()
        for line in lines:
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            words = [w for w in words[1:] if not w.startswith("[")]  # drop [options]
            if len(words) >= 3:
                entries.append((words[0], words[1], tuple(words[2:])))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            stanzas = f.read().split("\n\n")
        for stanza in stanzas:
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if "deb" not in fields.get("types", []) or fields.get("enabled") == ["no"]:
                continue
            for uri in fields.get("uris", []):
                for suite in fields.get("suites", []):
                    entries.append((uri, suite, tuple(fields.get("components", ["main"]))))
    return [e for e in entries if e[1] == SUITE or e[1].startswith(SUITE + "-")]


def base_image():
    """The cached base image's tag, made first if needed. Records the figures."""
    sources = apt_sources()
    mirrors = [uri for uri, suite, _ in sources if suite == SUITE]
    require(mirrors, f"no `deb ... {SUITE}` source in /etc/apt/sources.list(.d)")
    debootstrap = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "debootstrap"],
                                 capture_output=True, text=True).stdout
    key = hashlib.sha256(json.dumps([BASE_RECIPE, SUITE, sources, debootstrap,
                                     os.uname().machine]).encode()).hexdigest()[:16]
    tag = f"{BASE_REPO}:{key}"
    inspect = podman("image", "inspect", "--format", "{{.Created.Unix}}", tag, check=False)
    if inspect.returncode == 0:
        age_days = (time.time() - int(inspect.stdout.strip())) / 86400
        if age_days < BASE_MAX_AGE_DAYS:
            FIGURES["base_image"] = f"cache hit {tag} ({age_days:.1f} days old)"
            return tag
    # Stale or missing: drop every earlier base image, then make this one.
    old = podman("images", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPO, check=False)
    for name in old.stdout.split():
        podman("rmi", "--force", name, check=False)
    start = time.monotonic()
    os.makedirs(CACHE, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="base-", dir=CACHE)
    rootfs = os.path.join(workdir, "rootfs")
    try:
        log = os.path.join(workdir, "debootstrap.log")
        with open(log, "w") as out:
            proc = subprocess.run(["debootstrap", "--variant=minbase", SUITE, rootfs, mirrors[0]],
                                  stdout=out, stderr=subprocess.STDOUT, timeout=1200)
        if proc.returncode != 0:
            with open(log) as f:
                raise AssertionError("debootstrap failed:\n" + f.read()[-4000:])
        # apt in the image uses the same archive as the host, updates and security included.
        for leftover in glob.glob(os.path.join(rootfs, "etc/apt/sources.list.d/*")):
            os.remove(leftover)
        with open(os.path.join(rootfs, "etc/apt/sources.list"), "w") as f:
            for uri, suite, components in sources:
                f.write(f"deb {uri} {suite} {' '.join(components)}\n")
        for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin",
                        "var/lib/apt/lists/*_*"):
            for path in glob.glob(os.path.join(rootfs, pattern)):
                os.remove(path)
        tar = subprocess.Popen(["tar", "-C", rootfs, "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        imported = subprocess.run(podman_cmd("import", "-", tag), stdin=tar.stdout, text=True,
                                  capture_output=True, env=podman_env(), timeout=600)
        tar.stdout.close()
        assert tar.wait() == 0, "tar of the debootstrap root failed"
        assert imported.returncode == 0, f"podman import failed: {imported.stderr}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    FIGURES["base_image"] = f"built {tag} in {time.monotonic() - start:.0f} s"
    return tag


# ---------------------------------------------------------------- the agent image

def build_image(base):
    """podman build of deploy/Dockerfile; records the time and the image size.

    Layers are cached in the project's storage. The final image is FROM scratch, so the build
    and runtime-libs stages' layers would be untagged leaves that `image prune` removes, apt's
    layers with them; tagging both stages (the same build, all steps cached) keeps them, and the
    prune then only removes what earlier runs left behind."""
    log_path = os.path.join(CACHE, "image-build.log")
    common = ["build", "--pull=never", "--network", "host", "--layers",
              "--ignorefile", os.path.join(REPO, "deploy", "Dockerfile.dockerignore"),
              "--build-arg", f"BUILD_IMAGE={base}", "--build-arg", f"RUNTIME_IMAGE={base}",
              "-f", os.path.join(REPO, "deploy", "Dockerfile")]
    start = time.monotonic()
    with open(log_path, "w") as log:
        for extra in (["-t", IMAGE],
                      ["--target", "build", "-t", f"{CACHE_TAG}-build"],
                      ["--target", "runtime-libs", "-t", f"{CACHE_TAG}-runtime-libs"]):
            proc = subprocess.run(podman_cmd(*common, *extra, REPO), stdout=log,
                                  stderr=subprocess.STDOUT, env=podman_env(),
                                  timeout=BUILD_TIMEOUT)
            if proc.returncode != 0:
                break
            if extra[1] == IMAGE:
                FIGURES["image_build_s"] = round(time.monotonic() - start)
                log.flush()
                with open(log_path) as f:
                    FIGURES["image_build_cached_steps"] = f.read().count("Using cache")
    if proc.returncode != 0:
        with open(log_path) as f:
            raise AssertionError(f"podman build {' '.join(extra)} failed (log {log_path}):\n"
                                 + f.read()[-6000:])
    podman("image", "prune", "--force", check=False, timeout=300)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    FIGURES["image_size_mb"] = round(size / 1e6, 1)


# ---------------------------------------------------------------- the DaemonSet, as podman flags

def quantity_bytes(text):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 10**3, "M": 10**6, "G": 10**9}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[:-len(unit)]) * factor)
    return int(text)


def quantity_cpus(text):
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


class PodSpec:
    """deploy/kubernetes/daemonset.yaml's one container as `podman run` arguments. Every field
    of the pod and container spec is either translated or listed as having no podman meaning
    here; anything else fails, so the test cannot silently drift from the manifest."""

    POD_IGNORED = {"serviceAccountName", "priorityClassName", "tolerations", "containers",
                   "volumes", "hostPID", "hostNetwork", "terminationGracePeriodSeconds"}
    CONTAINER_IGNORED = {"name", "image", "imagePullPolicy", "startupProbe", "livenessProbe",
                         "readinessProbe"}

    def __init__(self, name, image, config_dir, metrics_port):
        with open(DAEMONSET) as f:
            daemonset = yaml.safe_load(f)
        pod = daemonset["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        unknown = set(pod) - self.POD_IGNORED
        assert not unknown, f"pod spec fields the test does not translate: {unknown}"
        unknown = set(container) - self.CONTAINER_IGNORED - {
            "args", "command", "ports", "env", "resources", "securityContext", "volumeMounts"}
        assert not unknown, f"container fields the test does not translate: {unknown}"
        self.grace = int(pod.get("terminationGracePeriodSeconds", 30))
        self.host_network = bool(pod.get("hostNetwork", False))
        self.container = container
        flags = ["--name", name, "--hostname", socket.gethostname()]
        flags += ["--pid", "host"] if pod.get("hostPID") else []
        self.metrics_port = metrics_port
        ports = [p["containerPort"] for p in container.get("ports", [])]
        if self.host_network:
            flags += ["--network", "host"]
            assert ports == [9400], "with hostNetwork the test expects the agent on 9400"
            self.metrics_port = 9400
        else:
            assert ports, "the DaemonSet exposes no port to scrape"
            flags += ["-p", f"127.0.0.1:{metrics_port}:{ports[0]}"]
        flags += self._security(container.get("securityContext", {}))
        flags += self._env(name, container.get("env", []))
        flags += self._resources(container.get("resources", {}))
        flags += self._volumes(pod.get("volumes", []), container.get("volumeMounts", []),
                               config_dir)
        if "command" in container:
            flags += ["--entrypoint", json.dumps(container["command"])]
        self.flags = flags
        self.args = [str(a) for a in container.get("args", [])]
        self.image = image

    def _security(self, sc):
        flags = []
        known = {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsUser",
                 "runAsGroup", "runAsNonRoot", "capabilities", "seccompProfile"}
        unknown = set(sc) - known
        assert not unknown, f"securityContext fields the test does not translate: {unknown}"
        if sc.get("privileged"):
            flags.append("--privileged")
        if sc.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        if sc.get("readOnlyRootFilesystem"):
            # Only the manifest's volumes are writable: no tmpfs podman would add on its own.
            flags += ["--read-only", "--read-only-tmpfs=false"]
        if "runAsUser" in sc:
            user = str(sc["runAsUser"])
            flags += ["--user", f"{user}:{sc['runAsGroup']}" if "runAsGroup" in sc else user]
        if sc.get("runAsNonRoot"):
            assert sc.get("runAsUser", 0) != 0, "runAsNonRoot with runAsUser 0"
        caps = sc.get("capabilities", {})
        for cap in caps.get("drop", []):
            flags += ["--cap-drop", cap]
        for cap in caps.get("add", []):
            flags += ["--cap-add", cap]
        self.caps_added = list(caps.get("add", []))
        profile = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if profile == "Unconfined":
            flags += ["--security-opt", "seccomp=unconfined"]
        else:
            assert profile == "RuntimeDefault", f"seccompProfile {profile} not translated"
        return flags

    @staticmethod
    def _env(name, env):
        flags = []
        for item in env:
            if "value" in item:
                value = str(item["value"])
            else:
                path = item["valueFrom"]["fieldRef"]["fieldPath"]
                value = {"spec.nodeName": socket.gethostname(), "metadata.name": name,
                         "metadata.namespace": "loupe"}[path]
            flags += ["--env", f"{item['name']}={value}"]
        return flags

    @staticmethod
    def _resources(resources):
        limits = resources.get("limits", {})
        unknown = set(limits) - {"cpu", "memory"}
        assert not unknown, f"resource limits the test does not translate: {unknown}"
        flags = []
        if "memory" in limits:
            flags += ["--memory", str(quantity_bytes(limits["memory"]))]
        if "cpu" in limits:
            flags += ["--cpus", str(quantity_cpus(str(limits["cpu"])))]
        return flags

    @staticmethod
    def _volumes(volumes, mounts, config_dir):
        by_name = {v["name"]: v for v in volumes}
        flags = []
        for mount in mounts:
            volume = by_name[mount["name"]]
            ro = mount.get("readOnly", False)
            target = mount["mountPath"]
            assert set(mount) <= {"name", "mountPath", "readOnly"}, mount
            if "hostPath" in volume:
                path, kind = volume["hostPath"]["path"], volume["hostPath"].get("type", "")
                if kind == "DirectoryOrCreate":
                    os.makedirs(path, exist_ok=True)
                else:
                    assert kind == "Directory" and os.path.isdir(path), \
                        f"hostPath {path} ({kind}) must be an existing directory"
                flags += ["--volume", f"{path}:{target}:{'ro' if ro else 'rw'}"]
            elif "configMap" in volume:
                assert ro, "the ConfigMap is expected read-only"
                flags += ["--volume", f"{config_dir}:{target}:ro"]
            elif "emptyDir" in volume:
                size = volume["emptyDir"].get("sizeLimit")
                opts = f",tmpfs-size={quantity_bytes(size)}" if size else ""
                assert not ro
                flags += ["--mount", f"type=tmpfs,destination={target}{opts}"]
            else:
                raise AssertionError(f"volume kind not translated: {volume}")
        return flags

    def run_args(self):
        return ["run", "--detach", "--pull=never", *self.flags, self.image, *self.args]


def write_configmap(directory):
    with open(CONFIGMAP) as f:
        configmap = yaml.safe_load(f)
    for key, text in configmap["data"].items():
        with open(os.path.join(directory, key), "w") as out:
            out.write(text)
    os.chmod(directory, 0o755)


# ---------------------------------------------------------------- the test

# linux/capability.h, in bit order.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
                "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
                "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
                "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
                "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
                "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
                "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]


def capability_set(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                mask = int(line.split()[1], 16)
                return {name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1}
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def curl_https(port, cert, path):
    return subprocess.run(["curl", "-s", "--http1.1", "--cacert", cert, "-o", "/dev/null",
                           "-w", "%{http_code}", f"https://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=10).stdout


class ContainerE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(os.geteuid() == 0, "needs root")
        for tool in ("podman", "runc", "debootstrap", "curl", "nginx"):
            require(shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}"),
                    f"{tool} is not installed (scripts/install-deps.sh)")
        cls.started = []
        cls.name = f"loupe-e2e-{os.getpid()}"
        # One run at a time per storage: a second checkout's run would retag and prune the
        # images this one uses. Released when the process exits.
        os.makedirs(CACHE, exist_ok=True)
        cls.lock = open(os.path.join(CACHE, "lock"), "w")
        start = time.monotonic()
        fcntl.flock(cls.lock, fcntl.LOCK_EX)
        if time.monotonic() - start > 1:
            FIGURES["waited_for_other_run_s"] = round(time.monotonic() - start)
        cls.base = base_image()
        build_image(cls.base)

    @classmethod
    def tearDownClass(cls):
        for name in cls.started:
            podman("rm", "--force", "--time", "0", name, check=False)
        print("container figures:", json.dumps(FIGURES), file=sys.stderr)
        cls.lock.close()

    def run_agent(self):
        config_dir = tempfile.mkdtemp(prefix="loupe-e2e-config-")
        self.addCleanup(shutil.rmtree, config_dir, True)
        write_configmap(config_dir)
        spec = PodSpec(self.name, IMAGE, config_dir, free_port())
        self.started.append(self.name)
        self.addCleanup(podman, "rm", "--force", "--time", "0", self.name, check=False)
        out = podman(*spec.run_args(), check=False)
        self.assertEqual(out.returncode, 0, f"podman run failed: {out.stderr}\n"
                         + " ".join(podman_cmd(*spec.run_args())))
        FIGURES["run_flags"] = " ".join(spec.flags[2:])
        return spec

    def logs(self):
        return podman("logs", self.name, check=False).stdout[-8000:]

    def metrics(self, port):
        status, body = http_get(port, "/metrics")
        self.assertEqual(status, 200)
        return parse_metrics(body.decode())

    def test_no_shell_in_image(self):
        out = podman("run", "--rm", "--pull=never", "--entrypoint", "/bin/sh", IMAGE, "-c",
                     "true", check=False)
        self.assertNotEqual(out.returncode, 0, "a shell ran in the image")
        created = podman("create", "--pull=never", IMAGE).stdout.strip()
        try:
            export = subprocess.Popen(podman_cmd("export", created), stdout=subprocess.PIPE,
                                      env=podman_env())
            with export.stdout, tarfile.open(fileobj=export.stdout, mode="r|") as tar:
                names = [m.name.lstrip("./") for m in tar]
            self.assertEqual(export.wait(), 0)
        finally:
            podman("rm", "--force", created, check=False)
        shells = [n for n in names
                  if os.path.basename(n) in ("sh", "bash", "dash", "busybox", "apt", "dpkg")]
        self.assertEqual(shells, [], "shells or package managers in the image")
        self.assertIn("usr/bin/loupe", names)
        FIGURES["image_files"] = len(names)

    def test_daemonset_pod_sees_host_http_and_https(self):
        spec = self.run_agent()
        port = spec.metrics_port

        def ready():
            state = podman("inspect", "--format", "{{.State.Status}}", self.name, check=False)
            if state.stdout.strip() not in ("running", "created", "configured"):
                raise AssertionError(f"container {state.stdout.strip()}:\n{self.logs()}")
            try:
                return http_get(port, "/health/ready", timeout=1)[0] == 200
            except OSError:
                return False
        try:
            wait_until(ready, timeout=90, interval=0.5, what="/health/ready of the container")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}")
        FIGURES["ready_after_start"] = True

        # The agent holds exactly the manifest's capabilities, less those this host's root does
        # not have itself (podman leaves those out; the test machines lack SYS_RESOURCE).
        pid = podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip()
        effective = capability_set(pid, "CapEff")
        wanted = {c.upper().removeprefix("CAP_") for c in spec.caps_added}
        available = capability_set("self", "CapBnd")
        self.assertEqual(effective, wanted & available)
        FIGURES["caps_effective"] = sorted(effective)
        if wanted - available:
            FIGURES["caps_not_on_this_host"] = sorted(wanted - available)

        # HTTP: a Python server on the host, started after the agent.
        py = PythonServer("status_server.py", HTTP_SERVICE)
        self.addCleanup(py.stop)
        statuses = [http_get(py.port, path)[0] for path in HTTP_PATHS]
        self.assertEqual(statuses, [200, 200, 200, 404, 404])
        # HTTPS: nginx on the host with libssl; the agent attaches uprobes to the host's libssl
        # from inside the container.
        nginx = HttpsNginx()
        self.addCleanup(nginx.stop)
        tls_statuses = [curl_https(nginx.port, nginx.cert, "/") for _ in range(HTTPS_REQUESTS)]
        self.assertEqual(tls_statuses, ["200"] * HTTPS_REQUESTS)

        # Service names come from the servers' /proc/<pid>/environ and exe: host PID namespace.
        expected = {(HTTP_SERVICE, str(py.port), "200"): 3,
                    (HTTP_SERVICE, str(py.port), "404"): 2,
                    ("nginx", str(nginx.port), "200"): HTTPS_REQUESTS}

        def current():
            samples = self.metrics(port)
            return {(n, p, s): metric_sum(samples, SERVER, service_name=n, server_port=p,
                                          http_response_status_code=s)
                    for n, p, s in expected}
        try:
            wait_until(lambda: current() == expected, timeout=20, what="exact counts")
        except AssertionError:
            text = http_get(port, "/metrics")[1].decode()
            raise AssertionError(f"expected {expected}, got {current()}\n"
                                 + "\n".join(l for l in text.splitlines()
                                             if "_count" in l or l.startswith("loupe_tls"))
                                 + "\n" + self.logs())
        time.sleep(2.5)  # longer than the agent's pending timeout: a late duplicate shows now
        got = current()
        self.assertEqual(got, expected, "counts changed after settling")
        FIGURES["http_count"] = int(sum(v for (_, p, _), v in got.items() if p == str(py.port)))
        FIGURES["https_count"] = int(got[("nginx", str(nginx.port), "200")])

        # SIGTERM, as the kubelet sends it: exit 0 within the grace period.
        start = time.monotonic()
        stop = podman("stop", "--time", str(spec.grace), self.name, check=False,
                      timeout=spec.grace + 30)
        seconds = time.monotonic() - start
        code = podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip()
        FIGURES["sigterm_exit_code"] = int(code)
        FIGURES["sigterm_stop_s"] = round(seconds, 1)
        self.assertEqual(stop.returncode, 0, stop.stderr)
        self.assertEqual(code, "0", self.logs())
        self.assertLess(seconds, spec.grace, "stopped only by SIGKILL after the grace period")


if __name__ == "__main__":
    unittest.main(verbosity=2)
