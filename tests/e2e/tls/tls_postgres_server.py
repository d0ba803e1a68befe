"""PostgreSQL 15 that accepts TCP clients only over TLS, for the PostgreSQL-over-TLS end-to-end
test.

It is tests/e2e/db/servers.py's Postgres (same temporary directory, statement log keyed by
application_name, unix socket trusted for setup) with, once it runs: a self-signed certificate
made for this run by `openssl req -x509`, `ssl=on`, and a pg_hba.conf that rejects every
non-TLS TCP connection and asks TLS ones for SCRAM-SHA-256. A client that got in over TCP
therefore talked TLS: the agent can only have seen its statements through libssl.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "db"))
from harness import require, wait_until  # noqa: E402
from servers import Postgres  # noqa: E402

HBA = """\
local     all all                trust
hostssl   all all 127.0.0.1/32   scram-sha-256
hostnossl all all 127.0.0.1/32   reject
"""


class TlsPostgres(Postgres):
    def __init__(self, password):
        require(shutil.which("openssl") is not None, "openssl is not installed")
        super().__init__(password)
        try:
            self._enable_tls()
        except BaseException:
            self.stop()
            raise

    def _enable_tls(self):
        self.cert = os.path.join(self.dir, "server.crt")
        key = os.path.join(self.dir, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", self.cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The server refuses a key file that group or others can read.
        shutil.chown(key, "postgres", "postgres")
        os.chmod(key, 0o600)
        shutil.chown(self.cert, "postgres", "postgres")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write(HBA)
        # initdb --auth-host=md5 leaves an MD5 verifier, which scram-sha-256 lines refuse: store
        # a SCRAM one (over the unix socket, before any agent runs).
        escaped = self.password.replace("'", "''")
        self.local_sql("SET password_encryption = 'scram-sha-256'; "
                       f"ALTER ROLE postgres PASSWORD '{escaped}'")
        # ALTER SYSTEM cannot run in the implicit transaction of a multi-statement query.
        self.local_sql(f"ALTER SYSTEM SET ssl_cert_file = '{self.cert}'")
        self.local_sql(f"ALTER SYSTEM SET ssl_key_file = '{key}'")
        self.local_sql("ALTER SYSTEM SET ssl = on")
        self.local_sql("SELECT pg_reload_conf()")
        # The reload is asynchronous: new backends see it once the postmaster has processed it.
        wait_until(lambda: self.local_sql("SHOW ssl").strip() == "on", timeout=10,
                   what="postgres to enable ssl")

    def tls_env(self, user="postgres", password=None, service=None):
        env = self.tcp_env(user=user, password=password, service=service)
        env["PGSSLMODE"] = "require"
        return env
