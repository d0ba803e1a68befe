"""End-to-end: a real Prometheus server (Debian's) scrapes the agent, and its query API returns
the agent's RED series. Root; label `root`."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Agent, PythonServer, free_port, http_get, require, wait_until  # noqa: E402


def query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


class PrometheusScrapeE2E(unittest.TestCase):
    def test_real_prometheus_scrapes_the_agent(self):
        require(shutil.which("prometheus") is not None, "prometheus is not installed")
        agent = Agent()
        self.addCleanup(agent.stop)
        server = PythonServer("status_server.py", "scraped")
        self.addCleanup(server.stop)
        for _ in range(5):
            http_get(server.port, "/ok")

        workdir = tempfile.mkdtemp(prefix="loupe-prom-")
        self.addCleanup(shutil.rmtree, workdir, True)
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: loupe
    static_configs:
      - targets: ["127.0.0.1:{agent.port}"]
""")
        prom_port = free_port()
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir}/data",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(prom.kill)

        def scraped():
            try:
                up = query(prom_port, 'up{job="loupe"}')
                return up and up[0]["value"][1] == "1"
            except OSError:
                return False
        wait_until(scraped, timeout=60, interval=0.5, what="Prometheus to scrape the agent")
        result = query(prom_port, 'sum(http_server_request_duration_seconds_count'
                                  '{service_name="scraped",http_route="/ok"})')
        self.assertEqual(result[0]["value"][1], "5")
        # rate() needs two scrapes; the 5 requests all fall below the first bucket bound.
        for _ in range(5):
            http_get(server.port, "/ok")
        p99_expr = ('histogram_quantile(0.99, sum by (le) (rate('
                    'http_server_request_duration_seconds_bucket{service_name="scraped"}[1m])))')
        p99 = wait_until(lambda: query(prom_port, p99_expr), timeout=30, interval=0.5,
                         what="a p99 from the agent's buckets")
        self.assertLessEqual(float(p99[0]["value"][1]), 0.25)
        # Prometheus reports no scrape-time problems with the exposition.
        samples = query(prom_port, 'scrape_samples_scraped{job="loupe"}')
        self.assertGreater(float(samples[0]["value"][1]), 50)


if __name__ == "__main__":
    unittest.main(verbosity=2)
