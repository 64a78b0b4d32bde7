"""The cluster's readiness check reads the master's status page (``/json/``). A master that is
still starting can accept the connection and answer with an empty body: that is "no worker
alive yet", not an error that aborts ``start`` (it did once, and left the daemons running)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.config import overridden
from pipelines.services.spark_cluster import _alive_workers


@pytest.fixture()
def master_page():
    """A real HTTP server on loopback standing in for the master's web UI; each GET answers
    with the next body of ``bodies`` (the last one repeats)."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_port, bodies
    server.shutdown()
    server.server_close()


def test_an_empty_answer_while_the_master_starts_counts_as_no_worker(base_conf, master_page):
    port, bodies = master_page
    conf = overridden(base_conf, {"spark_cluster.host": "127.0.0.1",
                                  "spark_cluster.master_webui_port": port})
    bodies.extend([b"", b"<html>starting</html>",
                   json.dumps({"aliveworkers": 1, "workers": []}).encode()])
    assert _alive_workers(conf) == 0
    assert _alive_workers(conf) == 0
    assert _alive_workers(conf) == 1


def test_no_master_at_all_counts_as_no_worker(base_conf):
    # Port 1 (tcpmux): nothing listens there, the connection is refused.
    conf = overridden(base_conf, {"spark_cluster.host": "127.0.0.1",
                                  "spark_cluster.master_webui_port": 1})
    assert _alive_workers(conf) == 0
