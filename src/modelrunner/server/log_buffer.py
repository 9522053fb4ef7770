"""The server's recent log lines, kept in memory for `GET /logs`."""

from __future__ import annotations

import collections
import logging

SERVER_LINES_KEPT = 2000
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RecentLogLines(logging.Handler):
    """A logging handler that remembers the last lines it formatted."""

    def __init__(self, capacity: int = SERVER_LINES_KEPT) -> None:
        super().__init__()
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)
