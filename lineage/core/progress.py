"""Progress is a callback, never a print from library code: the CLI draws the bars.

``Progress(done, total)`` counts bytes or items; ``TransferProgress(bytes_done,
bytes_total, objects_done, objects_total)`` is its two-counter form for push and pull.
``RateWindow`` turns those counts into a rate over a sliding window of recent samples,
and reports none until enough time has passed to measure one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from lineage.core.units import rate as _rate

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


class RateWindow:
    """Bytes per second over the last ``window`` seconds of samples.

    No rate before ``min_elapsed`` seconds have passed since the window was started: a
    burst of cached files in the first milliseconds would otherwise read as terabytes a
    second. The rate is measured up to the time it is asked for, so a stalled transfer
    shows a falling rate rather than the last fast one.
    """

    def __init__(self, *, window: float = 5.0, min_elapsed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if window < min_elapsed:
            raise ValueError("the window must be at least min_elapsed seconds")
        self.window, self.min_elapsed = window, min_elapsed
        self._clock = clock
        self.started = clock()
        self._samples: deque[tuple[float, float]] = deque([(self.started, 0.0)])
        self._lock = threading.Lock()

    def add(self, done: float) -> None:
        """Record that ``done`` bytes (a running total) have been moved by now."""
        now = self._clock()
        with self._lock:
            self._samples.append((now, float(done)))
            self._trim(now)

    def _trim(self, now: float) -> None:
        # keep one sample at or before the window's start, so the span covers the window
        s = self._samples
        while len(s) > 2 and s[1][0] <= now - self.window:
            s.popleft()

    def rate(self) -> float | None:
        """Bytes per second, or ``None`` while less than ``min_elapsed`` has passed."""
        now = self._clock()
        with self._lock:
            if now - self.started < self.min_elapsed:
                return None
            self._trim(now)
            (t0, d0), (_, d1) = self._samples[0], self._samples[-1]
        return _rate(max(0.0, d1 - d0), now - t0, min_elapsed=self.min_elapsed)

    def remaining(self, done: float, total: float | None) -> float | None:
        """Seconds left at the current rate, or ``None`` when it cannot be told yet."""
        r = self.rate()
        if not r or total is None:
            return None
        return max(0.0, total - done) / r
