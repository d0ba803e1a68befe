#!/usr/bin/env python3
"""Records TCP connections' bytes as exchanges split on direction change, like Loupe's kernel side
does for a client: NN.req = what the client wrote, NN.resp = what it then read.
Usage: capture_proxy.py LISTEN_PORT UPSTREAM_PORT OUT_DIR NCONN. Connection k goes to OUT_DIR/cK
(or OUT_DIR itself when NCONN is 1).

This is how tests/fixtures/{postgresql,mysql,redis,memcached}/ were made: real servers (Debian's
postgresql 15, mariadb 10.11, redis 7.0, memcached 1.6) on 127.0.0.1 behind this proxy, driven by
psql, pgbench, the mariadb CLI and small raw-socket clients. Passwords in those captures are
throwaway test values that the tests search for to prove they never reach a record."""
import os, select, socket, sys, threading

listen_port, upstream_port, out_dir, nconn = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def relay(cli, d):
    up = socket.create_connection(("127.0.0.1", upstream_port))
    exchanges, last_dir = [], None
    while True:
        r, _, _ = select.select([cli, up], [], [])
        done = False
        for s in r:
            data = s.recv(65536)
            if not data:
                done = True
                break
            if s is cli:
                up.sendall(data)
                if last_dir != "req":
                    exchanges.append([b"", b""])
                exchanges[-1][0] += data
                last_dir = "req"
            else:
                cli.sendall(data)
                if last_dir is None:
                    exchanges.append([b"", b""])
                exchanges[-1][1] += data
                last_dir = "resp"
        if done:
            break
    cli.close(); up.close()
    os.makedirs(d, exist_ok=True)
    for i, (req, resp) in enumerate(exchanges, 1):
        open(os.path.join(d, "%02d.req" % i), "wb").write(req)
        open(os.path.join(d, "%02d.resp" % i), "wb").write(resp)

srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port)); srv.listen(8)
threads = []
for k in range(nconn):
    cli, _ = srv.accept()
    d = out_dir if nconn == 1 else os.path.join(out_dir, "c%d" % (k + 1))
    t = threading.Thread(target=relay, args=(cli, d)); t.start(); threads.append(t)
for t in threads: t.join()
print("done", flush=True)
