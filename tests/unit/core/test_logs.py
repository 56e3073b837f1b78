from __future__ import annotations

import json
import logging
import sys

from openmes.core.logs import JsonFormatter
from openmes.core.uow import request_id_var


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("openmes.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_level_logger_message_request_id_and_extras() -> None:
    token = request_id_var.set("req-42")
    try:
        line = JsonFormatter().format(_record("broker down", broker="127.0.0.1:1883", attempt=3))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "openmes.test"
    assert entry["message"] == "broker down"
    assert entry["request_id"] == "req-42"
    assert entry["broker"] == "127.0.0.1:1883"
    assert entry["attempt"] == 3
    assert entry["time"].endswith("+00:00")


def test_exceptions_are_one_json_line_with_the_trace() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: bad value" in json.loads(line)["exception"]
