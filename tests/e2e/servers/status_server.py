"""A thread-per-request HTTP/1.1 server with known behaviour per path:
/ok -> 200, /missing/<id> -> 404, /err -> 500, /slow -> 200 after sleeping 50 ms."""
import http.server
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.05)
        if self.path.startswith("/missing"):
            code = 404
        elif self.path.startswith("/err"):
            code = 500
        else:
            code = 200
        body = b"ok\n" if code == 200 else b"no\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
