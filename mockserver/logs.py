"""Log output: one line per mocked request, as text or JSON, written off the request path.

The request handler only builds a LogRecord and puts it on a queue; a background thread formats
and writes it, so a slow terminal or log collector never holds up a response.
"""

from __future__ import annotations

import atexit
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import logging.handlers

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


class _QueueHandler(logging.Handler):
    """The root handler. At the first record it starts the writer thread and imports
    logging.handlers (~3 ms with the pickle module it brings): a server that logs nothing, the
    default without --access-log, needs neither. Each record then goes through a QueueHandler,
    formatted as before."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__()
        self._handler = handler
        self._queued: logging.handlers.QueueHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._queued is None:  # emit runs under the handler's lock: this runs once
            import logging.handlers
            import queue

            records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
            listener = logging.handlers.QueueListener(
                records, self._handler, respect_handler_level=True
            )
            listener.start()
            atexit.register(listener.stop)  # flush what is queued when the process ends
            self._queued = logging.handlers.QueueHandler(records)
        self._queued.emit(record)


def configure(level: str, fmt: str) -> None:
    """Send every log record through a queue to one stderr handler on a background thread."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [_QueueHandler(handler)]
    root.setLevel(level.upper())
