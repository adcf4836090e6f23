"""Progress-bar columns in the one unit system (KiB, MiB, GiB), with rates over a window.

rich's ``DownloadColumn`` and ``TransferSpeedColumn`` print decimal MB and take the speed
from the first samples, so a burst of cached files read as terabytes a second. These
columns use :mod:`lineage.core.units` and a :class:`~lineage.core.progress.RateWindow`
kept in the task's ``rate`` field. Imported only when a bar is drawn.
"""

from __future__ import annotations

from typing import Any

from rich.progress import ProgressColumn, Task
from rich.text import Text

from lineage.core.progress import RateWindow
from lineage.core.units import format_rate, format_size

__all__ = ["RateColumn", "RemainingColumn", "SizeColumn", "new_rate"]


def new_rate() -> RateWindow:
    return RateWindow(window=5.0, min_elapsed=1.0)


def _window(task: Task) -> RateWindow | None:
    w: Any = task.fields.get("rate")
    return w if isinstance(w, RateWindow) else None


class SizeColumn(ProgressColumn):
    """``1.5/3.2 GiB``: bytes done and the total, in binary units."""

    def render(self, task: Task) -> Text:
        done = format_size(task.completed)
        if task.total is None:
            return Text(done, style="progress.download")
        total = format_size(task.total)
        unit = total.rsplit(" ", 1)[1]
        if task.completed == 0:
            done = "0"
        elif done.endswith(" " + unit):
            done = done.rsplit(" ", 1)[0]
        return Text(f"{done}/{total}", style="progress.download")


class RateColumn(ProgressColumn):
    """``12.3 MiB/s``, or ``…`` until the window has seen at least a second."""

    def render(self, task: Task) -> Text:
        w = _window(task)
        return Text(format_rate(w.rate() if w else None), style="progress.data.speed")


class RemainingColumn(ProgressColumn):
    """Time left at the windowed rate; ``-:--:--`` while no rate is known."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        w = _window(task)
        left = w.remaining(task.completed, task.total) if w and not task.finished else None
        if left is None:
            return Text("-:--:--", style="progress.remaining")
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours}:{minutes:02d}:{seconds:02d}", style="progress.remaining")
