"""One structured log line per request, with an id that the response carries."""

from __future__ import annotations

import json
import logging

from htsd_workflow.core.logging import JsonFormatter


def test_each_request_logs_one_json_line_with_id_and_timing(client, caplog):
    request_logger = logging.getLogger("htsd.requests")
    request_logger.addHandler(caplog.handler)  # the htsd loggers do not propagate to root
    level = logging.getLogger("htsd").level
    logging.getLogger("htsd").setLevel(logging.INFO)  # the suite runs at WARNING
    try:
        response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    finally:
        request_logger.removeHandler(caplog.handler)
        logging.getLogger("htsd").setLevel(level)
    assert response.headers["X-Request-ID"] == "abc123"
    records = [r for r in caplog.records if r.name == "htsd.requests"]
    assert len(records) == 1
    fields = records[0].fields
    assert fields["request_id"] == "abc123" and fields["status"] == 200
    assert fields["path"] == "/healthz" and fields["ms"] >= 0
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "abc123" and line["message"] == "request"
