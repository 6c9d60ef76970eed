"""Responses do not say which server software, or which versions, answer them."""

from __future__ import annotations

import re
import threading
import urllib.request

from werkzeug.serving import make_server

from htsd_workflow.devserver import RequestHandler


def test_the_development_server_does_not_advertise_its_versions(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=10) as r:
            assert r.status == 200
            servers = r.headers.get_all("Server") or []
    finally:
        server.shutdown()
        thread.join(10)
    assert servers, "the handler still names itself, without versions"
    for value in servers:
        assert "Werkzeug" not in value and "Python" not in value
        assert not re.search(r"\d+\.\d+", value), value
