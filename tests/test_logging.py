import contextlib
import json
import logging
import urllib.error
import urllib.request

import pytest

from config.logging import JsonFormatter
from tests.processes import Processes, production_env


def test_it_writes_one_json_object_per_line_with_the_ids_that_apply():
    record = logging.LogRecord("packets.notify", logging.INFO, __file__, 1, "sent %s", ("email",), None)
    record.message_id = 42
    record.case_id = 7
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "sent email"
    assert entry["message_id"] == 42 and entry["case_id"] == 7
    assert "order_id" not in entry
    assert entry["time"].endswith("+00:00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_log_never_shows_the_shippo_token(tmp_path):
    """A real gunicorn with the project's config: Shippo posts with ?token= on the URL."""
    token = "shippo-token-that-must-not-be-logged"
    processes = Processes(tmp_path)
    try:
        base = processes.web(production_env(SHIPPO_WEBHOOK_SECRET=token, WEB_CONCURRENCY="1", INTAKE_FOLLOWUP_TASK=""))
        for given in (token, "a-wrong-guess"):
            request = urllib.request.Request(
                f"{base}/webhooks/carriers/shippo/?token={given}&x=1",
                data=b'{"event": "track_updated", "data": {}}',
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10).read()
    finally:
        processes.stop_all()
    log = (tmp_path / "web.log").read_text()
    assert log.count("/webhooks/carriers/shippo/?token=[redacted]&x=1") == 2, log
    assert token not in log and "a-wrong-guess" not in log
