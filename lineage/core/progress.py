"""Progress is a callback, never a print from library code: the CLI draws the bars.

``Progress(done, total)`` counts bytes or items; ``TransferProgress(bytes_done,
bytes_total, objects_done, objects_total)`` is its two-counter form for push and pull.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Progress = Callable[[int, int], None]
TransferProgress = Callable[[int, int, int, int], None]


class TransferMeter:
    """Counts bytes and objects moved by many threads and reports each step to ``cb``."""

    def __init__(self, total_bytes: int, total_objects: int, cb: TransferProgress | None) -> None:
        self.total_bytes, self.total_objects = total_bytes, total_objects
        self.bytes = self.objects = 0
        self._cb = cb
        self._lock = threading.Lock()

    def add(self, nbytes: int, nobjects: int) -> None:
        with self._lock:
            self.bytes += nbytes
            self.objects += nobjects
            if self._cb:
                self._cb(self.bytes, self.total_bytes, self.objects, self.total_objects)
