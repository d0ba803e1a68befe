"""HTTPS servers for the TLS end-to-end test: nginx with a self-signed certificate made by
`openssl req -x509` per test run, and a Go crypto/tls server (TLS the agent cannot see)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import free_port, require, wait_until  # noqa: E402


def make_certificate(directory):
    """A throwaway self-signed certificate for 127.0.0.1; returns (cert, key) paths."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    require(shutil.which("openssl") is not None, "openssl is not installed")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)  # nginx reads it as root at start; the directory is private anyway
    return cert, key


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class HttpsNginx:
    """nginx serving HTTPS on a loopback port: a static file, a 404 and a 500 location."""

    def __init__(self, port=None, directory=None):
        require(shutil.which("nginx") is not None, "nginx is not installed")
        self.port = port or free_port()
        self.dir = directory or tempfile.mkdtemp(prefix="loupe-tls-nginx-")
        self.owns_dir = directory is None
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "html"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        with open(os.path.join(self.dir, "html", "index.html"), "w") as f:
            f.write("hello over TLS\n")
        if not os.path.exists(os.path.join(self.dir, "cert.pem")):
            make_certificate(self.dir)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log {self.dir}/logs/access.log;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_certificate {self.dir}/cert.pem;
    ssl_certificate_key {self.dir}/key.pem;
    root {self.dir}/html;
    location = /status500 {{ return 500; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: listening(self.port), what="nginx (https) to listen")

    @property
    def cert(self):
        return os.path.join(self.dir, "cert.pem")

    def served_requests(self):
        path = os.path.join(self.dir, "logs", "access.log")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return sum(1 for _ in f)

    def stop(self, keep_dir=False):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.owns_dir and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class GoHttpsServer:
    """A Go net/http server over crypto/tls: statically linked TLS, invisible to libssl uprobes."""

    def __init__(self, cert, key):
        go = shutil.which("go")
        require(go is not None, "go is not installed")
        self.build_dir = tempfile.mkdtemp(prefix="loupe-tls-go-")
        binary = os.path.join(self.build_dir, "e2e-go-tls")
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([go, "build", "-o", binary, "main.go"], check=True,
                       cwd=os.path.join(here, "goserver"),
                       env={**os.environ, "GOCACHE": os.path.join(self.build_dir, "cache"),
                            "GO111MODULE": "off", "HOME": self.build_dir})
        self.port = free_port()
        self.proc = subprocess.Popen([binary, str(self.port), cert, key],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: listening(self.port), what="go https server")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.build_dir, ignore_errors=True)
