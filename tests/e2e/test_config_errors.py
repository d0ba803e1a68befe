"""End-to-end: bad configuration stops the real binary at start with exit code 2 and one line on
stderr naming what to fix (docs/configuration.md, "Exit codes"). Issue 20: a directory as config
file aborted (134), duplicate YAML keys and malformed OTLP endpoints were accepted, and every
configuration error exited 1 like a run-time failure. Nothing is loaded: these fail before the
agent touches the kernel."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LOUPE, free_port, require  # noqa: E402

BAD_CONFIGURATION = 2


def run_agent(args, env=None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run([LOUPE, f"--listen_address=127.0.0.1:{free_port()}", *args],
                          capture_output=True, text=True, timeout=20, env={**clean, **(env or {})})


class ConfigErrorsE2E(unittest.TestCase):
    def setUp(self):
        require(LOUPE and os.path.exists(LOUPE), "LOUPE_BIN is not set to the built agent")
        self.dir = tempfile.TemporaryDirectory(prefix="loupe-config-")
        self.addCleanup(self.dir.cleanup)

    def assert_bad_configuration(self, result, *fragments):
        self.assertEqual(result.returncode, BAD_CONFIGURATION, result.stderr + result.stdout)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("loupe: "), lines[0])
        for fragment in fragments:
            self.assertIn(fragment, lines[0])

    def yaml(self, text):
        path = os.path.join(self.dir.name, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_config_path_is_a_directory(self):
        result = run_agent([f"--config={self.dir.name}"])
        self.assert_bad_configuration(result, self.dir.name, "is a directory")

    def test_duplicate_yaml_key(self):
        path = self.yaml("max_connections: 1000\nlog_level: info\nmax_connections: 2000\n")
        self.assert_bad_configuration(run_agent([f"--config={path}"]),
                                      "'max_connections'", "more than once")

    def test_bad_values_from_yaml_and_flags(self):
        self.assert_bad_configuration(run_agent([f"--config={self.yaml('bogus: 1')}"]), "'bogus'")
        self.assert_bad_configuration(run_agent(["--ringbuf_mib=3"]), "ringbuf_mib")

    def test_bad_selection_names_the_rule(self):
        path = self.yaml("selection:\n  exclude:\n    - namespaces: [kube-system]\n"
                         "    - namespace: [shop]\n")
        self.assert_bad_configuration(run_agent([f"--config={path}"]),
                                      "'selection.exclude[1].namespace'", "namespaces")
        path = self.yaml("selection:\n  exclude_ports: [99999]\n")
        self.assert_bad_configuration(run_agent([f"--config={path}"]),
                                      "'selection.exclude_ports'", "between 1 and 65535")

    def test_unknown_kernel_feature_names_the_known_ones(self):
        self.assert_bad_configuration(run_agent(["--disable_features=map_iterator"]),
                                      "'map_iterator'", "map_elem_iterator")
        path = self.yaml("disable_features: [uprobes, fentri]\n")
        self.assert_bad_configuration(run_agent([f"--config={path}"]), "'fentri'")

    def test_malformed_otlp_endpoints(self):
        for url, fragment in [("http://", "no host"),
                              ("http://127.0.0.1:notaport", "1 to 65535"),
                              ("http://127.0.0.1:99999", "1 to 65535")]:
            with self.subTest(flag=url):
                self.assert_bad_configuration(run_agent([f"--otlp_endpoint={url}"]), fragment)
            with self.subTest(env=url):
                self.assert_bad_configuration(
                    run_agent([], env={"OTEL_EXPORTER_OTLP_ENDPOINT": url}), fragment)
        self.assert_bad_configuration(
            run_agent([], env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:99999"}),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "1 to 65535")
        path = self.yaml("otlp:\n  endpoint: http://127.0.0.1:notaport\n")
        self.assert_bad_configuration(run_agent([f"--config={path}"]), "1 to 65535")


if __name__ == "__main__":
    unittest.main(verbosity=2)
