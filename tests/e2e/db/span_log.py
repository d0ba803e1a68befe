"""Incremental reader of the agent's stdout (logs and --print_spans JSON lines).

With --print_spans the agent prints a span for every exchange on the machine, which can be
hundreds of MB while other traffic runs: the file is read once, from where the last read stopped,
keeping only database spans, and every byte read is searched for the secrets the tests forbid.
"""
import json


class SpanLog:
    def __init__(self, path, forbidden=()):
        self.path = path
        self.offset = 0
        self.db_spans = []
        self.forbidden = list(forbidden)
        self.found = {}  # secret -> the line it was found in (cut)
        self._partial = b""

    def forbid(self, *secrets):
        """Secrets added later are searched for in what is read from then on, and in the DB
        spans already kept; add them before the traffic that carries them."""
        for secret in secrets:
            if secret not in self.forbidden:
                self.forbidden.append(secret)

    def refresh(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        text = data[:cut].decode("utf-8", errors="replace")
        for secret in self.forbidden:
            at = text.find(secret)
            if at >= 0 and secret not in self.found:
                start = text.rfind("\n", 0, at) + 1
                self.found[secret] = text[start:start + 400]
        for line in text.splitlines():
            if line.startswith('{"trace_id"') and '"db.system.name"' in line:
                self.db_spans.append(json.loads(line))

    def spans(self, service=None, since_ns=0):
        self.refresh()
        return [s for s in self.db_spans
                if (service is None or s.get("service_name") == service)
                and s["start_unix_ns"] >= since_ns]

    def leaks(self):
        """{secret: where} for every forbidden string seen in the output so far."""
        self.refresh()
        return dict(self.found)
