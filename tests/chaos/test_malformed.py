"""Chaos: malformed traffic of every protocol the agent parses — garbage, truncated and oversized
messages written to real servers (nginx, PostgreSQL, Redis, memcached) and garbage answers from
listening sockets that pose as servers (HTTP, MySQL, PostgreSQL, Redis, memcached) to well-formed
requests. The agent must stay up, count what it cannot parse, and still count valid traffic
exactly afterwards. Root; ctest label `chaos`."""
import os
import random
import socket
import struct
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e", "db"))
from chaos import (LONG, MIB, RSS_LIMIT_BYTES, Agent, ChaosNginx, RssSampler,  # noqa: E402
                   check_accounting, counters, delta, free_port, http_get, metric_sum, report,
                   server_count, settle)
from load import http_load  # noqa: E402
from servers import Memcached, Postgres, Redis  # noqa: E402

ROUNDS = 20 if LONG else 2
RNG = random.Random(20)


def garbage(n):
    return bytes(RNG.randrange(256) for _ in range(n))


def send_raw(port, payload, read_for=0.2):
    """One connection: writes `payload` (a list means several writes), reads for a moment,
    closes. Errors of the peer (reset, refusal to read) are part of the game."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            for part in payload if isinstance(payload, list) else [payload]:
                s.sendall(part)
                time.sleep(0.01)
            s.settimeout(read_for)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
    except OSError:
        pass


def pg_startup(user=b"postgres", db=b"postgres"):
    body = struct.pack("!I", 196608) + b"user\0" + user + b"\0database\0" + db + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


HTTP_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n",                                   # cut before the end
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",           # longer than a prefix
    b"\x00\xff" * 512,
    b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nshort",  # body cut
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",                    # a response as request
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + garbage(300),                 # valid, then garbage
    [b"GE", b"T / HT", b"TP/1.1\r\nHo", b"st: x\r\n\r\n"],              # split in tiny writes
    b"\r\n" * 100,
]
PG_REQUESTS = [
    struct.pack("!I", 0xFFFFFFFF) + b"\x00\x03\x00\x00",
    b"\x00\x00\x00\x04",
    [b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"not a tls hello" * 10],    # SSLRequest, garbage
    [pg_startup(), b"Q\x00\x00\x00\x05"],                               # query cut short
    [pg_startup(), b"Q\x7f\xff\xff\xff" + b"SELECT"],                   # absurd length
    [pg_startup(), garbage(200)],
    garbage(512),
]
REDIS_REQUESTS = [
    b"*99999\r\n",
    b"*1\r\n$4\r\nPI",
    b"$-5\r\n",
    b"*1\r\n$2147483647\r\n",
    b"PING\r\n" * 3 + b"\x00\xff",
    b"*2\r\n$3\r\nGET\r\n:notbulk\r\n",
    garbage(512),
]
MEMCACHED_REQUESTS = [
    b"get " + b"k" * 400 + b"\r\n",
    b"set k 0 0 999999999\r\n",
    b"\x80\x00\xff\xff" + garbage(60),                                   # binary-protocol magic
    garbage(512),
    b"gets\r\n",
    b"set k 0 0 5\r\nabcdefgh\r\n",
    b"get a\r\nget b\r\n" + b"x" * 3000,
]

# Answers of servers that lie, each to a well-formed request of its protocol.
MYSQL_GREETING = (b"\x4a\x00\x00\x00\x0a" + b"10.11.6-MariaDB\x00" + b"\x01\x00\x00\x00"
                  + b"abcdefgh\x00" + b"\xfe\xf7\x2d\x02\x00\xff\x81\x15" + b"\x00" * 10
                  + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
LIARS = {
    "http": (b"GET / HTTP/1.1\r\nHost: liar\r\n\r\n",
             [b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
              b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", garbage(300),
              b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\ncut"]),
    "postgresql": (pg_startup(),
                   [b"R\x00\x00\x00\x08\x00\x00\x00", b"E\xff\xff\xff\xff", garbage(200),
                    b"R\x00\x00\x00\x08\x00\x00\x00\x00Z\x00\x00\x00\x05I" + garbage(50)]),
    "redis": (b"*1\r\n$4\r\nPING\r\n",
              [b"+OK", b"$999999\r\nab", b"*3\r\n:1\r\n", garbage(200), b"-\r\n"]),
    "memcached": (b"get k\r\n",
                  [b"VALUE k 0 99999\r\nab", b"END", garbage(200), b"VALUE k\r\n"]),
    "mysql": (None,  # the server speaks first: a greeting, then garbage to the client's reply
              [MYSQL_GREETING + garbage(100), MYSQL_GREETING[:20],
               b"\xff\xff\xff\x00" + garbage(100), MYSQL_GREETING + b"\x07\x00\x00\x02\x00"]),
}


class Liar:
    """A listening socket that answers each connection with the next canned reply."""

    def __init__(self, replies, speaks_first):
        self.replies = replies
        self.speaks_first = speaks_first
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.n = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            reply = self.replies[self.n % len(self.replies)]
            self.n += 1
            try:
                conn.settimeout(1)
                if not self.speaks_first:
                    conn.recv(65536)
                conn.sendall(reply)
                if self.speaks_first:
                    conn.recv(65536)
                    conn.sendall(garbage(64))
                time.sleep(0.05)
            except OSError:
                pass
            conn.close()

    def stop(self):
        self.sock.close()


class MalformedChaos(unittest.TestCase):
    def test_every_protocol(self):
        agent = Agent()
        self.addCleanup(agent.stop)
        rss = RssSampler(agent.proc.pid)
        self.addCleanup(rss.stop)
        nginx = ChaosNginx()
        self.addCleanup(nginx.stop)
        redis = Redis()
        self.addCleanup(redis.stop)
        memcached = Memcached()
        self.addCleanup(memcached.stop)
        postgres = Postgres("chaos-pg-password")
        self.addCleanup(postgres.stop)
        before = agent.metrics()

        def alive(what):
            self.assertIsNone(agent.proc.poll(), f"agent exited during {what}")
            status, _ = http_get(agent.port, "/health/live")
            self.assertEqual(status, 200, f"agent not live after {what}")

        started = time.monotonic()
        for _ in range(ROUNDS):
            for name, port, payloads in (("http1", nginx.port, HTTP_REQUESTS),
                                         ("postgresql", postgres.port, PG_REQUESTS),
                                         ("redis", redis.port, REDIS_REQUESTS),
                                         ("memcached", memcached.port, MEMCACHED_REQUESTS)):
                for payload in payloads:
                    send_raw(port, payload)
                alive(f"garbage to {name}")
            for name, (request, replies) in LIARS.items():
                liar = Liar(replies, speaks_first=request is None)
                try:
                    for _ in replies:
                        send_raw(liar.port, [request] if request else [b"\x01\x00\x00\x01\x00"],
                                 read_for=0.3)
                finally:
                    liar.stop()
                alive(f"garbage answers of a {name} server")

        after = agent.metrics()

        def grew(name):
            return {labels.get("protocol", ""): int(value - metric_sum(before, name, **labels))
                    for n, labels, value in after if n == name
                    and value - metric_sum(before, name, **labels) > 0}

        report("malformed traffic", seconds=round(time.monotonic() - started, 1),
               parse_failures=grew("loupe_parse_failures_total"),
               unclassified=int(metric_sum(after, "loupe_exchanges_unclassified_total")
                                - metric_sum(before, "loupe_exchanges_unclassified_total")),
               parsed=grew("loupe_exchanges_parsed_total"))

        # Valid traffic right after is still counted exactly.
        base = counters(agent)
        time.sleep(2.5)  # the garbage's last exchanges end by timeout first
        counted_before = server_count(agent, nginx)
        done, errors, _ = http_load(nginx.port, 500, workers=2)
        exported = settle(agent, nginx, counted_before + done) - counted_before
        check_accounting(self, "valid traffic after the garbage", done, exported,
                         delta(counters(agent), base), unknown=errors)
        peak = rss.stop()
        report("malformed memory", rss_peak_mib=round(peak / MIB, 1))
        self.assertLessEqual(peak, RSS_LIMIT_BYTES)
        self.assertEqual(agent.stop(), 0, agent.logs()[-3000:])


if __name__ == "__main__":
    unittest.main()
