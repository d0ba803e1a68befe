"""End-to-end: PostgreSQL over TLS is seen in plaintext through the libssl uprobes and reported
like plain PostgreSQL, from the client's side.

PostgreSQL 15 runs with ssl=on, a certificate made for this run, and a pg_hba.conf that rejects
non-TLS TCP clients and asks for SCRAM-SHA-256 (tls/tls_postgres_server.py). Unmodified libpq
clients (psql, pgbench, linked against the system libssl) connect to 127.0.0.1 with
sslmode=require. The agent must count every statement exactly once with the right operation,
collection and error type (compared with the tool's own count and the server's statement log),
never export the password, and count no PostgreSQL parse failure. That the connections really
were TLS is shown three ways: non-TLS TCP logins are refused, pg_stat_ssl says so for psql's own
backend, and the agent's libssl counters moved. Needs root (loads BPF); ctest label `root`.
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "db"))
sys.path.insert(0, os.path.join(HERE, "tls"))
from harness import STRICT, Agent, metric_sum, require, wait_until  # noqa: E402
from span_log import SpanLog  # noqa: E402
from tls_postgres_server import TlsPostgres  # noqa: E402

DURATION_COUNT = "db_client_operation_duration_seconds_count"
SETTLE = 2.6  # longer than the agent's pending timeout (2 s): late duplicates would show by then
PASSWORD = "pgtls-Scram-S3cret-4b9e"  # on the wire inside TLS only; must never be exported
ITEMS = 50
PGBENCH_T = 300

# Global agent counters reported for every step, and compared before/after.
COUNTERS = ("loupe_tls_calls_total", "loupe_tls_connections_total",
            "loupe_tls_plaintext_dropped_total", "loupe_tls_bytes_skipped_total",
            "loupe_exchanges_parsed_total", "loupe_parse_failures_total",
            "loupe_exchanges_unclassified_total", "loupe_exchanges_finalized_total",
            "loupe_requests_unreported_total", "loupe_events_dropped_total")


def report(title, **numbers):
    print(f"\n  [{title}] " + ", ".join(f"{k}={v}" for k, v in numbers.items()), file=sys.stderr)


def run(args, env, input=None, check=True, timeout=60):
    result = subprocess.run(args, env=env, input=input, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def pgbench_processed(output):
    m = re.search(r"number of transactions actually processed: (\d+)/(\d+)", output)
    assert m, output
    return int(m.group(1)), int(m.group(2))


class Window:
    """What one step changed in the agent: PostgreSQL counts of one service, keyed by
    (operation, collection, error_type), and the agent's own counters."""

    def __init__(self, agent, service):
        self.agent = agent
        self.service = service
        self.counts_before = self._db_counts()
        self.counters_before = self._counters()

    def _db_counts(self):
        out = collections.Counter()
        for name, labels, value in self.agent.metrics():
            if (name == DURATION_COUNT and labels.get("service_name") == self.service
                    and labels.get("db_system_name") == "postgresql"):
                out[(labels.get("db_operation_name", ""), labels.get("db_collection_name", ""),
                     labels.get("error_type", ""))] += value
        return out

    def _counters(self):
        out = collections.Counter()
        for name, labels, value in self.agent.metrics():
            if name in COUNTERS:
                key = name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
                              + "}" if labels else "")
                out[key] += value
        return out

    def counts(self):
        now = self._db_counts()
        return {k: now[k] - self.counts_before[k] for k in set(now) | set(self.counts_before)
                if now[k] != self.counts_before[k]}

    def counters(self):
        now = self._counters()
        return {k: now[k] - self.counters_before[k]
                for k in sorted(set(now) | set(self.counters_before))
                if now[k] != self.counters_before[k]}

    def wait_for(self, expected, exact=False, timeout=20):
        """Waits until the expected counts are reached (with exact=True: until the whole delta
        is `expected`), then lets the agent settle and checks nothing arrived late."""
        def matches():
            got = self.counts()
            if exact:
                return got == expected
            return all(got.get(k, 0) == v for k, v in expected.items())
        try:
            wait_until(matches, timeout=timeout, interval=0.2, what=f"{self.service} counts")
        except AssertionError:
            raise AssertionError(f"{self.service}: expected {expected}\n"
                                 f" got {sorted(self.counts().items())}\n"
                                 f" agent counters: {self.counters()}")
        time.sleep(SETTLE)
        if not matches():
            raise AssertionError(f"{self.service} counts changed after settling: expected "
                                 f"{expected}, got {sorted(self.counts().items())}")
        return self.counts()

    def assert_tls_and_clean(self, test, min_calls, client_connections):
        """The libssl probes saw this step's calls and each client connection as visible TLS,
        and no PostgreSQL exchange failed to parse. The counters are host-wide: other TLS traffic can only add to calls
        and visible connections; unclassified exchanges and opaque TLS connections from other
        traffic fail the test only under LOUPE_E2E_STRICT=1 (CI runs e2e tests serially)."""
        c = self.counters()
        test.assertGreaterEqual(c.get("loupe_tls_calls_total", 0), min_calls, c)
        test.assertGreaterEqual(c.get("loupe_tls_connections_total{visibility=visible}", 0),
                                client_connections, c)
        test.assertEqual(c.get("loupe_parse_failures_total{protocol=postgresql}", 0), 0, c)
        # loupe_tls_plaintext_dropped_total is not noise here: the postgres backends' own
        # SSL calls move it (test_server_backend_plaintext_not_dropped).
        noise = {k: v for k, v in c.items()
                 if k in ("loupe_exchanges_unclassified_total",
                          "loupe_tls_connections_total{visibility=opaque}")}
        if STRICT:
            test.assertEqual(noise, {}, c)
        elif noise:
            print(f"warning: host-wide counters moved: {noise} (other traffic on this host?)",
                  file=sys.stderr)


class PostgresTlsE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(shutil.which("psql") is not None, "psql is not installed")
        cls.pg = TlsPostgres(PASSWORD)
        try:
            # Setup over the unix socket: not TCP, invisible to the agent.
            cls.pg.local_sql("CREATE TABLE loupe_tls_items (id int PRIMARY KEY, v text); "
                             "INSERT INTO loupe_tls_items "
                             f"SELECT i, 'row-' || i FROM generate_series(0, {ITEMS - 1}) i")
            run(["pgbench", "-i", "-s", "1", "-q", "-h", cls.pg.dir, "-p", str(cls.pg.port),
                 "-U", "postgres", "postgres"], env=cls.pg.tcp_env())
            # A larger ring than the default: printing every span slows the agent down.
            cls.agent = Agent(extra_args=["--print_spans", "--ringbuf_mib=64"])
        except BaseException:
            cls.pg.stop()
            raise
        cls.span_log = SpanLog(cls.agent.log_path, forbidden=(PASSWORD,))

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        cls.pg.stop()
        assert code == 0, f"agent exit code {code}, output in {cls.agent.log_path}"

    def server_statements(self, app, needle):
        with open(self.pg.statement_log) as f:
            return sum(1 for line in f if line.startswith(app + "|") and needle in line)

    def spans(self, service, since_ns):
        return [s for s in self.span_log.spans(service, since_ns)
                if s["attributes"].get("server.port") == self.pg.port]

    def assert_password_absent(self):
        """Searched for in every byte the agent printed since it started, and in /metrics."""
        metrics_text = self.agent.metrics_text()
        leaks = self.span_log.leaks()
        self.assertNotIn(PASSWORD, metrics_text, "password exported in /metrics")
        self.assertNotIn(PASSWORD, leaks, f"password in the agent's output: {leaks}")

    def test_non_tls_tcp_login_refused(self):
        # The ground for "every counted call came through libssl".
        r = run(["psql", "-X", "-c", "SELECT 1"],
                env={**self.pg.tls_env(), "PGSSLMODE": "disable"}, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no encryption", r.stderr)

    def test_psql_statements_exact(self):
        w = Window(self.agent, "psql")
        started = time.time_ns()
        logged_before = self.server_statements("psql", "LOG:  statement: ")
        errors_before = self.server_statements("psql", "ERROR:  syntax error")
        script = ["SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();"]
        script += [f"SELECT v FROM loupe_tls_items WHERE id = {i};" for i in range(ITEMS)]
        script += ["SELEC 1;"]  # a syntax error: SQLSTATE 42601
        r = run(["psql", "-X", "-At", "-f", "-"], env=self.pg.tls_env(),
                input="\n".join(script) + "\n")
        lines = r.stdout.split()
        self.assertEqual(lines[0], "t", "pg_stat_ssl: psql's own backend is not on TLS")
        self.assertEqual(lines[1:], [f"row-{i}" for i in range(ITEMS)])
        self.assertIn("syntax error", r.stderr)
        logged = self.server_statements("psql", "LOG:  statement: ") - logged_before
        errors_logged = self.server_statements("psql", "ERROR:  syntax error") - errors_before
        expected = {
            ("SELECT", "pg_stat_ssl", ""): 1,
            ("SELECT", "loupe_tls_items", ""): ITEMS,
            ("", "", "42601"): 1,  # "SELEC" is no statement verb
        }
        try:
            got = w.wait_for(expected, exact=True)
        finally:
            report("psql over TLS", psql_statements=len(script), server_log=logged,
                   server_syntax_errors=errors_logged, agent=sorted(w.counts().items()),
                   counters=w.counters())
        # The server logs a statement it could not parse only as an ERROR.
        self.assertEqual((logged, errors_logged), (len(script) - 1, 1))
        self.assertEqual(sum(got.values()), len(script))
        # Each statement is at least one SSL_write and one SSL_read in psql, and the same again
        # in its backend.
        w.assert_tls_and_clean(self, min_calls=4 * len(script), client_connections=1)

        items = wait_until(
            lambda: [s for s in self.spans("psql", started)
                     if s["attributes"].get("db.collection.name") == "loupe_tls_items"]
            if len(self.spans("psql", started)) >= len(script) else None,
            timeout=10, what="psql spans")
        self.assertEqual(len(self.spans("psql", started)), len(script))
        texts = collections.Counter(s["attributes"].get("db.query.text") for s in items)
        # The literal ids are sanitized away.
        self.assertEqual(texts, {"SELECT v FROM loupe_tls_items WHERE id = ?;": ITEMS}, texts)
        errors = [s for s in self.spans("psql", started) if s["status"] == "ERROR"]
        self.assertEqual([s["attributes"].get("error.type") for s in errors], ["42601"])
        self.assert_password_absent()

    def test_pgbench_select_only_simple(self):
        require(shutil.which("pgbench") is not None, "pgbench is not installed")
        w = Window(self.agent, "pgbench")
        select = "SELECT abalance FROM pgbench_accounts"
        selects_before = self.server_statements("pgbench", select)
        logged_before = self.server_statements("pgbench", "LOG:  statement: ")
        out = run(["pgbench", "-S", "-c", "1", "-t", str(PGBENCH_T), "-M", "simple",
                   "postgres"], env=self.pg.tls_env())
        processed, wanted = pgbench_processed(out.stdout)
        self.assertEqual(processed, wanted)
        server_selects = self.server_statements("pgbench", select) - selects_before
        logged = self.server_statements("pgbench", "LOG:  statement: ") - logged_before
        try:
            got = w.wait_for({("SELECT", "pgbench_accounts", ""): processed})
            # Every simple Query the server logged is one call, the start-up queries included.
            wait_until(lambda: sum(w.counts().values()) >= logged, timeout=10,
                       what="all pgbench calls")
        finally:
            report("pgbench -S -M simple -c 1 over TLS", pgbench=processed,
                   server_selects=server_selects, server_log_all=logged,
                   agent=sorted(w.counts().items()), counters=w.counters())
        self.assertEqual(server_selects, processed)
        self.assertEqual(sum(w.counts().values()), logged)
        self.assertEqual(got[("SELECT", "pgbench_accounts", "")], processed)
        # pgbench connects once to look at the tables and vacuum, then once per client (-c 1).
        w.assert_tls_and_clean(self, min_calls=4 * processed, client_connections=2)
        self.assert_password_absent()

    def test_password_never_exported(self):
        w = Window(self.agent, "psql")
        run(["psql", "-X", "-c", "SELECT 1 FROM pg_class LIMIT 1"], env=self.pg.tls_env())
        # A wrong password (which contains the right one) is an authentication failure, not a
        # call.
        r = run(["psql", "-X", "-c", "SELECT 2"],
                env=self.pg.tls_env(password=PASSWORD + "x"), check=False)
        self.assertIn("password authentication failed", r.stderr)
        w.wait_for({("SELECT", "pg_class", ""): 1}, exact=True)
        # The failed login is a TLS connection too: its StartupMessage went through SSL_write.
        w.assert_tls_and_clean(self, min_calls=4, client_connections=2)
        self.assert_password_absent()

    @unittest.expectedFailure
    def test_server_backend_plaintext_not_dropped(self):
        # Known limitation: every SSL_read/SSL_write result of a postgres backend is counted in
        # loupe_tls_plaintext_dropped_total (about two per statement: the Query read, the
        # results written). The postmaster accept()s and then fork()s the backend, which
        # serves the socket it inherited; the capture keys connections by (tgid, fd) and
        # creates them only at accept/connect (or from /proc at start), so the backend's
        # (tgid, fd) is never in the conn map, its in-SSL socket syscalls link nothing
        # (tls_on_socket_data runs for tracked connections only), and PostgreSQL does not call
        # SSL_set_fd (it installs its own BIO), so tls_exit finds no fd. No call is lost -
        # PostgreSQL is reported from the client - but the counter docs/tls.md calls a
        # transient start-up effect grows with every statement of every pre-forked TLS server.
        w = Window(self.agent, "psql")
        statements = 20
        run(["psql", "-X", "-At", "-f", "-"], env=self.pg.tls_env(),
            input="SELECT 1 FROM pg_class LIMIT 1;\n" * statements)
        w.wait_for({("SELECT", "pg_class", ""): statements}, exact=True)
        dropped = w.counters().get("loupe_tls_plaintext_dropped_total", 0)
        report("postgres backend plaintext", statements=statements, dropped=dropped)
        self.assertEqual(dropped, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
