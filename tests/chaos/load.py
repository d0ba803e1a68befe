"""Load generators for the chaos suite: raw-socket HTTP/1.1 clients that count every response
they read, so that the agent's counts can be checked against them.

wrk cannot send invented methods (it checks each generated request with a parser that knows only
the standard ones), hence these. Each worker is a process; every loop is bounded both in
requests and in time.
"""
import multiprocessing
import socket
import time


def _read_response(sock, buf):
    """Reads one response with a Content-Length body (nginx's error pages and files have one).
    Returns (status, rest of the buffer) or (None, b"") when the peer closed."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return status, rest[length:]


_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "GET")


def _method(n, first_on_connection):
    """A standard method most of the time, an invented one every 8th request; a connection's
    first request is a GET so that the agent classifies the connection as HTTP at all."""
    if first_on_connection:
        return "GET"
    if n % 8:
        return _METHODS[n % len(_METHODS)]
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s = ""
    while True:
        s += letters[n % 26]
        n //= 26
        if n == 0:
            return "X" + s


def _worker(args):
    ports, worker, seed, count, deadline, unique, close_each, conn_count = args
    ports = ports if isinstance(ports, list) else [ports]
    connections = 0
    done = errors = 0
    statuses = {}
    sock = None
    buf = b""
    buf_used = False
    n = 0
    while n < count and time.monotonic() < deadline:
        if sock is None:
            try:
                # Several ports: a connection to each in turn (new server_port label values).
                port = ports[(worker + connections) % len(ports)]
                connections += 1
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                buf = b""
                buf_used = False
            except OSError:
                errors += 1
                time.sleep(0.01)
                continue
        n += 1
        if unique:
            key = (seed * 100 + worker) * 1_000_000 + n
            request = (f"{_method(key, not buf_used)} /card/s{seed}w{worker}n{n}/item-{key * 7919:x} HTTP/1.1\r\n"
                       f"Host: h{key}.chaos.example\r\n")
        else:
            request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if close_each:
            request += "Connection: close\r\n"
        try:
            sock.sendall((request + "\r\n").encode())
            status, buf = _read_response(sock, buf)
        except OSError:
            status = None
        if status is None:
            errors += 1
            sock.close()
            sock = None
            continue
        done += 1
        buf_used = True
        statuses[status] = statuses.get(status, 0) + 1
        if close_each or (len(ports) > 1 and n % 20 == 0):
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    return done, errors, statuses


def http_load(port, requests, workers=4, seed=0, unique=False, close_each=False, max_seconds=60):
    """Sends `requests` requests (split between `workers` processes) to `port` (or a list of
    ports, a new connection every 20 requests, to each in turn) and returns
    (responses read, errors, {status: count}). Stops at `max_seconds` whatever is left."""
    deadline = time.monotonic() + max_seconds
    per = [requests // workers + (1 if i < requests % workers else 0) for i in range(workers)]
    jobs = [(port, i, seed, per[i], deadline, unique, close_each, 0) for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_worker, jobs)
    statuses = {}
    for _, _, s in results:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    return sum(r[0] for r in results), sum(r[1] for r in results), statuses
