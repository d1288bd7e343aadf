import json
import logging

from config.logging import JsonFormatter


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
