"""A Python HTTPS client (the `ssl` module over the system libssl) for the TLS end-to-end test.

usage: https_client.py PORT CAFILE MODE PATH...
  MODE keepalive: every PATH on one connection; MODE new: one connection per PATH.
Prints the status codes, one per line."""
import http.client
import ssl
import sys


def main():
    port, cafile, mode, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    context = ssl.create_default_context(cafile=cafile)
    conn = None
    for path in paths:
        if conn is None:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        print(response.status)
        if mode == "new":
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


if __name__ == "__main__":
    main()
