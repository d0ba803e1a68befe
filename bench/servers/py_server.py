"""A Python threaded HTTP/1.1 server whose handler takes 1 ms (a sleep standing in for work):
the "slow application" workload of bench/run.py, where per-request agent cost is small next to
the request itself. Usage: py_server.py PORT"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b"hello from python\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK
    # (40 ms) and the benchmark would measure that instead of the server.
    disable_nagle_algorithm = True

    def do_GET(self):
        time.sleep(0.001)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
