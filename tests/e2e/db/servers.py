"""Real database servers from Debian on loopback ports, for Loupe's database end-to-end tests.

Each server runs from a fresh temporary directory, listens on 127.0.0.1 and a free port, and
knows how to tell what it actually executed (server-side ground truth: PostgreSQL's and MariaDB's
statement logs, Redis's INFO commandstats, memcached's stats), so that the agent's counts can be
compared with what really happened on the wire. Setup traffic goes over unix sockets where the
server has one, so that it is not TCP and the agent never sees it.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import free_port, require, wait_until

# One general-log command field: "    <id> <Command>".
GENERAL_LOG_COMMAND = re.compile(r"^\s*(\d+) ([A-Za-z][A-Za-z ]*)$")

PG_BIN = "/usr/lib/postgresql/15/bin"


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(proc, sig=signal.SIGTERM, timeout=15):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _owned_tempdir(prefix, user):
    path = tempfile.mkdtemp(prefix=prefix)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o755)
    return path


class Postgres:
    """PostgreSQL 15: TCP clients authenticate with a password (the stored verifier decides:
    SCRAM-SHA-256 for `postgres`, MD5 for the role made by add_md5_role); the unix socket in the
    temporary directory trusts local setup."""

    def __init__(self, password):
        require(os.path.exists(os.path.join(PG_BIN, "postgres")), "postgresql 15 is not installed")
        require(shutil.which("pgbench") is not None, "pgbench is not installed")
        self.password = password
        self.port = free_port()
        self.dir = _owned_tempdir("loupe-pg-", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.statement_log = os.path.join(self.dir, "statements.log")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        shutil.chown(pwfile, "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "initdb"),
                        "-D", self.data, "-U", "postgres", f"--pwfile={pwfile}",
                        "--auth-host=md5", "--auth-local=trust", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.unlink(pwfile)
        self._log_file = open(self.statement_log, "w")
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "postgres"),
             "-D", self.data, "-p", str(self.port), "-k", self.dir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "logging_collector=off", "-c", "log_statement=all",
             "-c", "log_line_prefix=%a|", "-c", "max_connections=30"],
            stdout=subprocess.DEVNULL, stderr=self._log_file)
        wait_until(lambda: self._ready(), timeout=30, what="postgres to accept connections")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited:\n" + open(self.statement_log).read())
        return subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", self.dir, "-p",
                               str(self.port)], stdout=subprocess.DEVNULL).returncode == 0

    def local_sql(self, sql):
        """Runs setup SQL over the unix socket (not TCP: invisible to the agent)."""
        return subprocess.run(["psql", "-X", "-q", "-h", self.dir, "-p", str(self.port),
                               "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                               "-At", "-c", sql],
                              check=True, capture_output=True, text=True).stdout

    def add_md5_role(self, name, password):
        self.local_sql(f"SET password_encryption = 'md5'; "
                       f"CREATE ROLE {name} LOGIN PASSWORD '{password}'; "
                       f"GRANT ALL ON SCHEMA public TO {name};")

    def tcp_env(self, user="postgres", password=None, service=None):
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": user,
               "PGPASSWORD": password or self.password, "PGDATABASE": "postgres",
               "PGSSLMODE": "disable"}
        # The statement log is keyed by application_name: each client's own fallback name.
        env.pop("PGAPPNAME", None)
        env.pop("OTEL_SERVICE_NAME", None)
        if service:
            env["OTEL_SERVICE_NAME"] = service
        return env

    def stop(self):
        _stop(self.proc, signal.SIGINT)  # fast shutdown
        self._log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDB:
    """MariaDB with grant tables: TCP clients log in as a user with a password (given through
    a client option file, never on a command line). The general query log is the ground truth of
    every command the server executed."""

    def __init__(self, user, password):
        require(shutil.which("mariadbd") is not None, "mariadb-server is not installed")
        require(shutil.which("mariadb") is not None, "mariadb client is not installed")
        self.user = user
        self.password = password
        self.port = free_port()
        self.dir = _owned_tempdir("loupe-mariadb-", "mysql")
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.general_log = os.path.join(self.dir, "general.log")
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=mysql",
                        f"--datadir={self.data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=mysql",
             f"--pid-file={self.dir}/mysqld.pid", f"--log-error={self.dir}/error.log",
             "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--skip-name-resolve",
             "--innodb-flush-log-at-trx-commit=0", "--max-connections=50"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._ready(), timeout=30, what="mariadbd to accept connections")
        self.local_sql(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                       f"GRANT ALL ON *.* TO '{user}'@'127.0.0.1'; "
                       f"SET GLOBAL general_log_file = '{self.general_log}'; "
                       f"SET GLOBAL general_log = 1;")
        self.option_file = os.path.join(self.dir, "client.cnf")
        with open(self.option_file, "w") as f:
            f.write(f"[client]\nuser={user}\npassword={password}\nhost=127.0.0.1\n"
                    f"port={self.port}\nprotocol=TCP\n")
        os.chmod(self.option_file, 0o600)

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("mariadbd exited:\n" + open(f"{self.dir}/error.log").read())
        return os.path.exists(self.socket) and _listening(self.port)

    def local_sql(self, sql):
        """Setup over the unix socket as root (not TCP: invisible to the agent)."""
        return subprocess.run(["mariadb", "--no-defaults", "-S", self.socket, "-u", "root",
                               "-N", "-B", "-e", sql],
                              check=True, capture_output=True, text=True).stdout

    def client_args(self, program="mariadb"):
        # --defaults-file must be the first option.
        return [program, f"--defaults-file={self.option_file}"]

    def executed_settled(self, since=0, timeout=10.0):
        """executed()[since:] once the general log has stopped growing: the server appends to it
        after answering, so a read right after the client exits can miss the last queries."""
        import time
        deadline = time.monotonic() + timeout
        last = self.executed()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.executed()
            if len(now) == len(last):
                break
            last = now
        return last[since:]

    def executed(self, thread_ids=None):
        """(command, argument) pairs from the general log, optionally for some connections."""
        out = []
        with open(self.general_log) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                # "<yymmdd hh:mm:ss>\t    <id> <Command>\t<argument>" when the second changed,
                # else "\t\t    <id> <Command>\t<argument>". The time is two words too, so the
                # command must start with a letter ("Query", "Init DB").
                for i, part in enumerate(parts):
                    m = GENERAL_LOG_COMMAND.match(part)
                    if m:
                        if thread_ids is None or int(m.group(1)) in thread_ids:
                            out.append((m.group(2), "\t".join(parts[i + 1:])))
                        break
        return out

    def stop(self):
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self, password=None):
        require(shutil.which("redis-server") is not None, "redis-server is not installed")
        self.port = free_port()
        self.password = password
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--unixsocket", "", "--protected-mode", "no"]
        if password:
            args += ["--requirepass", password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port), what="redis to listen")

    def commandstats(self):
        """Server-side calls per command, read with a raw socket (the test process is no client
        the tests look at)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            req = b""
            if self.password:
                req += _resp(["AUTH", self.password])
            req += _resp(["INFO", "commandstats"])
            s.sendall(req)
            data = b""
            # Replies: "+OK" for AUTH, then one bulk string "$<len>\r\n<body>\r\n".
            while True:
                start = data.find(b"$")
                if start >= 0 and b"\r\n" in data[start:]:
                    header_end = data.index(b"\r\n", start)
                    length = int(data[start + 1:header_end])
                    if len(data) >= header_end + 2 + length + 2:
                        break
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError(f"redis closed the stats connection: {data!r}")
                data += chunk
        stats = {}
        for line in data.decode().splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                fields = dict(kv.split("=") for kv in rest.split(","))
                stats[name.upper()] = int(fields["calls"])
        return stats

    def stop(self):
        _stop(self.proc)


def _resp(words):
    out = f"*{len(words)}\r\n".encode()
    for w in words:
        b = w.encode() if isinstance(w, str) else w
        out += f"${len(b)}\r\n".encode() + b + b"\r\n"
    return out


class Memcached:
    def __init__(self):
        require(shutil.which("memcached") is not None, "memcached is not installed")
        self.port = free_port()
        self.proc = subprocess.Popen(["memcached", "-p", str(self.port), "-l", "127.0.0.1",
                                      "-U", "0", "-u", "nobody", "-t", "2"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port), what="memcached to listen")

    def stats(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        out = {}
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out

    def stop(self):
        _stop(self.proc)


def wait_quiet(seconds=0.3):
    time.sleep(seconds)
