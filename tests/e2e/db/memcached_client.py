"""A scripted memcached text-protocol client: every command waits for its reply (no pipelining),
so each request is one exchange the agent must report exactly once.

usage: memcached_client.py PORT N UNKNOWN
  N times on one connection: set k<i> (numeric value), get k<i>, incr k<i>, delete k<i>;
  then UNKNOWN unknown commands (answered "ERROR"). Then one more round of the four commands on
  a fresh connection per command, so that new connections are detected too.
Prints the counts it sent as JSON, and fails if any reply is not the expected one.
"""
import json
import socket
import sys


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def command(self, line, data=None, end=b"\r\n"):
        payload = line.encode() + b"\r\n"
        if data is not None:
            payload += data + b"\r\n"
        self.sock.sendall(payload)
        while not self.buf.endswith(end):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit(f"connection closed after {line!r}")
            self.buf += chunk
        reply, self.buf = self.buf, b""
        return reply

    def close(self):
        self.sock.close()


def round_trip(conn, i, sent):
    key = f"loupe:k{i}"
    value = str(100 + i).encode()
    expect(conn.command(f"set {key} 0 0 {len(value)}", value), b"STORED\r\n")
    sent["set"] += 1
    expect(conn.command(f"get {key}", end=b"END\r\n"),
           f"VALUE {key} 0 {len(value)}\r\n".encode() + value + b"\r\nEND\r\n")
    sent["get"] += 1
    expect(conn.command(f"incr {key} 5"), f"{100 + i + 5}\r\n".encode())
    sent["incr"] += 1
    expect(conn.command(f"delete {key}"), b"DELETED\r\n")
    sent["delete"] += 1


def expect(got, want):
    if got != want:
        raise SystemExit(f"unexpected reply {got!r}, wanted {want!r}")


def main():
    port, n, unknown = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sent = {"set": 0, "get": 0, "incr": 0, "delete": 0, "unknown": 0}
    conn = Conn(port)
    for i in range(n):
        round_trip(conn, i, sent)
    for _ in range(unknown):
        expect(conn.command("loupe_no_such_command a b"), b"ERROR\r\n")
        sent["unknown"] += 1
    conn.close()
    for name, line, data, reply, end in (
            ("set", "set loupe:fresh 0 0 2", b"42", b"STORED\r\n", b"\r\n"),
            ("get", "get loupe:fresh", None, b"VALUE loupe:fresh 0 2\r\n42\r\nEND\r\n",
             b"END\r\n"),
            ("incr", "incr loupe:fresh 1", None, b"43\r\n", b"\r\n"),
            ("delete", "delete loupe:fresh", None, b"DELETED\r\n", b"\r\n")):
        fresh = Conn(port)
        expect(fresh.command(line, data, end), reply)
        sent[name] += 1
        fresh.close()
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
