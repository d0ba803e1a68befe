"""End-to-end: distributed traces from unmodified thread-per-request services.

A frontend calls a backend over plain HTTP without forwarding any header. The test sends
requests with and without a `traceparent` and asserts, from what an OTLP receiver (built on the
exporter's own protos) decoded, the exact span tree of every request. Root; label `root`."""
import concurrent.futures
import http.client
import os
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Agent, OtlpReceiver, b64_to_hex, free_port, metric_sum,  # noqa: E402
                     wait_until)

REQUESTS = int(os.environ.get("LOUPE_TRACE_REQUESTS", "1000"))
CONCURRENCY = 4
SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"


def start_tier(role, service, *args):
    port = free_port()
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen(["python3", os.path.join(here, "servers", "two_tier.py"), role,
                             str(port), *map(str, args)],
                            env={**os.environ, "OTEL_SERVICE_NAME": service},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _listening(port), what=f"{service} to listen")
    return proc, port


def _listening(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def call(port, path, traceparent=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"traceparent": traceparent} if traceparent else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


class TracesE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = OtlpReceiver()
        cls.agent = Agent(env={"OTEL_EXPORTER_OTLP_ENDPOINT": cls.receiver.endpoint,
                               "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e"})
        cls.backend, cls.backend_port = start_tier("backend", "backend")
        cls.frontend, cls.frontend_port = start_tier("frontend", "frontend", cls.backend_port)

    @classmethod
    def tearDownClass(cls):
        for proc in (cls.frontend, cls.backend):
            proc.terminate()
        cls.agent.stop()
        cls.receiver.stop()

    def wait_for_trace_ids(self, trace_ids, spans_per_trace=3, timeout=30):
        """Waits until every trace has at least `spans_per_trace` spans (or the timeout: the
        caller then measures what arrived). Spans of one trace leave the agent at different
        times: a server span continuing a traceparent at once, its children after the assembly
        window."""
        def arrived():
            counts = {}
            for s in self.receiver.spans():
                tid = b64_to_hex(s.get("trace_id", ""))
                if tid in trace_ids:
                    counts[tid] = counts.get(tid, 0) + 1
            return all(counts.get(t, 0) >= spans_per_trace for t in trace_ids)
        try:
            wait_until(arrived, timeout=timeout, interval=0.5, what="spans of every request")
        except AssertionError:
            pass  # measured below: the test reports how many trees are complete
        time.sleep(1.5)  # anything extra (a wrong fourth span) would show now

    def test_1_span_trees_with_and_without_traceparent(self):
        requests = []
        for i in range(REQUESTS):
            trace_id = "%032x" % random.getrandbits(128)
            parent = "%016x" % random.getrandbits(64)
            sampled = i % 2 == 0 or True
            requests.append((f"/checkout/{i}", trace_id, parent, sampled))
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            statuses = list(pool.map(
                lambda r: call(self.frontend_port, r[0], f"00-{r[1]}-{r[2]}-01"), requests))
        self.assertEqual(statuses, [200] * REQUESTS)
        self.wait_for_trace_ids({r[1] for r in requests})

        by_trace = {}
        for span in self.receiver.spans():
            by_trace.setdefault(b64_to_hex(span.get("trace_id", "")), []).append(span)
        complete = continued = 0
        problems = []
        for path, trace_id, parent, _ in requests:
            spans = by_trace.get(trace_id, [])
            ok, why = check_tree(spans, parent, path)
            continued += any(s["kind"] == SERVER and s["_resource"].get("service.name") ==
                             "frontend" and b64_to_hex(s.get("parent_span_id", "")) == parent
                             for s in spans)
            complete += ok
            if not ok and len(problems) < 5:
                problems.append((path, why))
        samples = self.agent.metrics()
        diagnostics = {name: metric_sum(samples, name) for name in (
            "loupe_spans_assembled_total", "loupe_spans_assembled_early_total",
            "loupe_spans_dropped_total", "loupe_spans_exported_total",
            "loupe_events_dropped_total", "loupe_kernel_unsolicited_total",
            "loupe_parse_failures_total", "loupe_exchanges_unclassified_total",
            "loupe_requests_unreported_total", "loupe_payload_truncated_total")}
        print(f"\nAGENT: {diagnostics}", file=sys.stderr)
        # For a request whose traceparent was not continued, where did its frontend span go?
        for path, trace_id, parent, _ in requests:
            if any(s["kind"] == SERVER and b64_to_hex(s.get("parent_span_id", "")) == parent
                   for s in by_trace.get(trace_id, [])):
                continue
            item = path.rsplit("/", 1)[-1]
            related = [(s["kind"], s["_resource"].get("service.name"),
                        s["_attributes"].get("url.path"), b64_to_hex(s.get("trace_id", "")),
                        b64_to_hex(s.get("parent_span_id", "")))
                       for s in self.receiver.spans()
                       if s["_attributes"].get("url.path") in (path, "/price/" + item)]
            print(f"NOT CONTINUED {path} trace {trace_id} parent {parent}: spans of this "
                  f"request and its backend call: {related}", file=sys.stderr)
        complete_pct = 100.0 * complete / REQUESTS
        continued_pct = 100.0 * continued / REQUESTS
        print(f"\nTRACE RESULT: {REQUESTS} requests, complete correct 3-span trees: "
              f"{complete} ({complete_pct:.2f}%), traceparent continued: {continued} "
              f"({continued_pct:.2f}%)", file=sys.stderr)
        self.assertEqual(self.receiver.errors, [], "receiver saw undecodable/unknown fields")
        self.assertEqual(continued_pct, 100.0, problems)
        self.assertGreaterEqual(complete_pct, 99.0, problems)

    def test_2_without_traceparent_the_callers_client_span_is_the_root(self):
        start = time.time_ns()
        status = call(self.frontend_port, "/checkout/77")
        self.assertEqual(status, 200)
        time.sleep(5)
        end = time.time_ns()
        spans = [s for s in self.receiver.spans()
                 if int(s["start_time_unix_nano"]) >= start and
                 s["_attributes"].get("url.path") in ("/checkout/77", "/price/77")]
        frontend = [s for s in spans if s["kind"] == SERVER and
                    s["_resource"]["service.name"] == "frontend"]
        self.assertEqual(len(frontend), 1, spans)
        trace = b64_to_hex(frontend[0]["trace_id"])
        tree = [s for s in self.receiver.spans() if b64_to_hex(s["trace_id"]) == trace]
        # The test's own request is seen by the agent too: it becomes the root CLIENT span.
        roots = [s for s in tree if not s.get("parent_span_id")]
        self.assertEqual(len(roots), 1, tree)
        self.assertEqual(roots[0]["kind"], CLIENT)
        self.assertEqual(b64_to_hex(frontend[0]["parent_span_id"]), b64_to_hex(roots[0]["span_id"]))
        ok, why = check_tree(tree, b64_to_hex(roots[0]["span_id"]), "/checkout/77")
        self.assertTrue(ok, why)
        for span in tree:  # real wall-clock timestamps
            self.assertGreaterEqual(int(span["start_time_unix_nano"]), start - 10**9)
            self.assertLessEqual(int(span["end_time_unix_nano"]), end)
            self.assertLessEqual(int(span["start_time_unix_nano"]), int(span["end_time_unix_nano"]))

    def test_3_errors_and_attributes(self):
        status = call(self.frontend_port, "/checkout-fail/5", "00-%032x-%016x-01" % (
            0xabc0000000000000000000000000def, 0x1234))
        self.assertEqual(status, 502)
        trace = "%032x" % 0xabc0000000000000000000000000def
        self.wait_for_trace_ids({trace})
        spans = [s for s in self.receiver.spans() if b64_to_hex(s["trace_id"]) == trace]
        self.assertEqual(len(spans), 3, spans)
        for span in spans:
            self.assertEqual(span.get("status", {}).get("code"), "STATUS_CODE_ERROR", span)
        client = next(s for s in spans if s["kind"] == CLIENT)
        attrs = client["_attributes"]
        self.assertEqual(attrs["http.request.method"], "GET")
        self.assertEqual(attrs["http.response.status_code"], 500)
        self.assertEqual(attrs["server.address"], "127.0.0.1")
        self.assertEqual(attrs["server.port"], self.backend_port)
        self.assertEqual(attrs["error.type"], "500")
        server = next(s for s in spans if s["kind"] == SERVER and
                      s["_resource"]["service.name"] == "frontend")
        attrs = server["_attributes"]
        self.assertEqual(server["name"], "GET /checkout-fail/{id}")
        for key in ("http.route", "url.path", "url.scheme", "client.address",
                    "network.peer.address", "network.peer.port", "network.protocol.version",
                    "server.port"):
            self.assertIn(key, attrs)
        self.assertEqual(attrs["http.response.status_code"], 502)
        resource = server["_resource"]
        self.assertEqual(resource["deployment.environment"], "e2e")
        self.assertEqual(resource["telemetry.sdk.name"], "loupe")
        self.assertEqual(resource["process.pid"], self.frontend.pid)
        for key in ("host.name", "service.instance.id", "process.executable.name",
                    "telemetry.sdk.language", "telemetry.sdk.version"):
            self.assertIn(key, resource)
        # Opt-in (export_command_line): a command line may hold a password no redactor knows.
        self.assertNotIn("process.command_line", resource)

    def test_4_metrics_reach_the_receiver(self):
        def has_http_metric():
            for request in list(self.receiver.metric_requests):
                for rm in request.get("resource_metrics", []):
                    for sm in rm.get("scope_metrics", []):
                        for metric in sm.get("metrics", []):
                            if metric["name"] == "http.server.request.duration":
                                return True
            return False
        wait_until(has_http_metric, timeout=40, what="http.server.request.duration over OTLP")

    def test_5_collector_down_then_back(self):
        self.receiver.command("stop")
        before = self.agent.metrics()
        dropped_before = metric_sum(before, "loupe_spans_dropped_total") + metric_sum(
            before, "loupe_otlp_export_failures_total")
        for i in range(200):
            call(self.frontend_port, f"/checkout/{10000 + i}")
        # The agent keeps serving Prometheus and counts what it could not export.
        wait_until(lambda: metric_sum(self.agent.metrics(), "loupe_otlp_export_failures_total")
                   + metric_sum(self.agent.metrics(), "loupe_spans_dropped_total")
                   > dropped_before, timeout=60, what="export failures to be counted")
        rss = metric_sum(self.agent.metrics(), "loupe_process_resident_memory_bytes")
        self.assertLess(rss, 256 * 1024 * 1024)
        self.receiver.command("start")
        trace = "%032x" % random.getrandbits(128)
        call(self.frontend_port, "/checkout/99999", f"00-{trace}-{'1' * 16}-01")
        self.wait_for_trace_ids({trace}, timeout=60)
        self.assertTrue(any(b64_to_hex(s["trace_id"]) == trace for s in self.receiver.spans()),
                        "export did not resume after the collector came back")


def check_tree(spans, expected_root_parent, path):
    """The frontend SERVER continues the caller (parent = expected_root_parent), its CLIENT call is
    its child, and the backend SERVER is the child of that CLIENT span: exactly these three
    below the root parent."""
    item = path.rsplit("/", 1)[-1]
    fe = [s for s in spans if s["kind"] == SERVER and s["_resource"].get("service.name") == "frontend"]
    cl = [s for s in spans if s["kind"] == CLIENT and s["_resource"].get("service.name") == "frontend"]
    be = [s for s in spans if s["kind"] == SERVER and s["_resource"].get("service.name") == "backend"]
    if len(fe) != 1 or len(cl) != 1 or len(be) != 1:
        return False, f"span counts fe={len(fe)} client={len(cl)} be={len(be)} of {len(spans)}"
    fe, cl, be = fe[0], cl[0], be[0]
    if b64_to_hex(fe.get("parent_span_id", "")) != expected_root_parent:
        return False, "frontend server span does not continue the caller"
    if b64_to_hex(cl.get("parent_span_id", "")) != b64_to_hex(fe["span_id"]):
        return False, "client span is not the child of the frontend server span"
    if b64_to_hex(be.get("parent_span_id", "")) != b64_to_hex(cl["span_id"]):
        return False, "backend server span is not the child of the client span"
    if fe["_attributes"].get("url.path") != path or not be["_attributes"].get("url.path", "").endswith("/" + item):
        return False, "spans of another request in this trace"
    if fe["name"] != "GET /checkout/{id}" or be["name"] != "GET /price/{id}" or cl["name"] != "GET":
        return False, f"names {fe['name']!r} {cl['name']!r} {be['name']!r}"
    return True, ""


if __name__ == "__main__":
    unittest.main(verbosity=2)
