"""Progress is a callback, never a print from library code: the CLI draws the bars.

``Progress(done, total)`` counts bytes or items; ``TransferProgress(bytes_done,
bytes_total, objects_done, objects_total)`` is its two-counter form for push and pull.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
TransferProgress = Callable[[int, int, int, int], None]
