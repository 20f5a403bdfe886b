"""Log output: one line per mocked request, as text or JSON, written off the request path.

The request handler only builds a LogRecord and puts it on a queue; a background thread formats
and writes it, so a slow terminal or log collector never holds up a response.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
from datetime import UTC, datetime
from typing import Final

ACCESS_LOGGER: Final = "mockserver.access"
ACCESS_FIELDS: Final = ("method", "path", "status", "stub_id", "ms", "namespace")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _QueueHandler(logging.handlers.QueueHandler):
    """Queues records for the listener, starting its thread at the first one: a server that
    logs nothing (the default, without --access-log) never runs the thread."""

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord],
        listener: logging.handlers.QueueListener,
    ) -> None:
        super().__init__(records)
        self.listener: logging.handlers.QueueListener | None = listener

    def emit(self, record: logging.LogRecord) -> None:
        # emit runs under the handler's lock, so the thread starts once
        if self.listener is not None:
            self.listener.start()
            atexit.register(self.listener.stop)  # flush what is queued when the process ends
            self.listener = None
        super().emit(record)


def configure(level: str, fmt: str) -> None:
    """Send every log record through a queue to one stderr handler on a background thread."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler, respect_handler_level=True)
    root = logging.getLogger()
    root.handlers[:] = [_QueueHandler(records, listener)]
    root.setLevel(level.upper())
