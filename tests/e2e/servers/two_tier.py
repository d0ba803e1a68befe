"""A two-tier thread-per-request application. `backend PORT` answers /price/<id> (and /fail/<id>
with 500); `frontend PORT BACKEND_PORT` answers /checkout/<id> by calling the backend over plain
HTTP on a new connection, forwarding no header at all (no trace context)."""
import http.client
import http.server
import sys
import time


class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(0.002)
        code = 500 if self.path.startswith("/fail") else 200
        body = b'{"price": 42}\n' if code == 200 else b"backend failure\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Frontend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend_port = 0

    def do_GET(self):
        item = self.path.rsplit("/", 1)[-1]
        upstream = "/fail/" + item if self.path.startswith("/checkout-fail") else "/price/" + item
        conn = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=5)
        conn.request("GET", upstream)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        code = 200 if resp.status == 200 else 502
        body = b"ordered\n" if code == 200 else b"upstream failed\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    role, port = sys.argv[1], int(sys.argv[2])
    if role == "frontend":
        Frontend.backend_port = int(sys.argv[3])
        handler = Frontend
    else:
        handler = Backend
    http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
