"""The images the cluster test runs, made locally and imported with `ctr images import`
(nothing is pulled): the workload (tests/kubernetes/workload, a static Go binary in a one-file
image) and the agent image the container test built (podman save of its project-owned storage).
"""
import os
import subprocess

from cluster import write_oci_archive

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD_IMAGE = "localhost/loupe-e2e/workload:1"
WORKLOAD_EXE = "loupe-e2e-workload"  # the process view's service name without Kubernetes


def workload_archive(tmp):
    """Builds the workload (Go standard library only, no module downloads) into an image
    archive in `tmp`; returns its path."""
    binary = os.path.join(tmp, WORKLOAD_EXE)
    subprocess.run(["nice", "go", "build", "-trimpath", "-o", binary,
                    os.path.join(HERE, "workload", "main.go")], check=True, timeout=900,
                   env={**os.environ, "CGO_ENABLED": "0", "GO111MODULE": "off",
                        "GOPROXY": "off", "GOFLAGS": ""})
    archive = os.path.join(tmp, "workload.tar")
    write_oci_archive(archive, WORKLOAD_IMAGE, {WORKLOAD_EXE: binary}, ["/" + WORKLOAD_EXE])
    return archive
