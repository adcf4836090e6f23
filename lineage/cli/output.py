"""Rendering of command results: JSON on stdout, rich tables, errors and progress on stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lineage.core.progress import Progress as ProgressCallback
from lineage.core.progress import TransferProgress

_console = None
_err_console = None


def console():
    global _console
    if _console is None:
        from rich.console import Console

        # piped output is not squeezed to 80 columns; a terminal keeps its own width
        _console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    return _console


def err_console():
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def plain(value: Any) -> Any:
    """Turn dataclasses (anything with ``to_dict``), lists and dicts into JSON-ready data."""
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def emit(value: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``value`` as JSON, or through ``render`` for people."""
    if as_json:
        emit_json(value)
    else:
        render(value)


def print(*args: Any, **kwargs: Any) -> None:  # noqa: A001 - the one place that prints
    console().print(*args, **kwargs)


def note(message: str) -> None:
    """A diagnostic for people, on stderr."""
    err_console().print(message)


def error(message: str) -> None:
    err_console().print(f"[bold red]error:[/] {escape(message)}")


def warning(message: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(message)}")


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)


def table(*columns: str, title: str | None = None, wrap: tuple[str, ...] = ("message",)):
    """A rich table; only the columns named in ``wrap`` may wrap."""
    from rich.table import Table

    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, no_wrap=c not in wrap, overflow="fold" if c in wrap else "ellipsis")
    return t


def short(digest: str | None, n: int = 12) -> str:
    return (digest or "")[:n]


def person(user: str | None) -> str:
    """The name part of ``Name <email>``, for narrow tables."""
    return (user or "").split(" <")[0]


def human_size(n: int | float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@contextmanager
def progress(label: str, *, unit: str = "bytes", delay: float = 0.4) -> Iterator[ProgressCallback]:
    """A progress callback that draws a bar on stderr once the work outlasts ``delay`` seconds."""
    start = time.monotonic()
    state: dict[str, Any] = {"bar": None, "task": None}
    interactive = sys.stderr.isatty()

    def update(done: int, total: int) -> None:
        if not interactive:
            return
        if state["bar"] is None:
            if time.monotonic() - start < delay:
                return
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress,
                                       TextColumn, TimeRemainingColumn, TransferSpeedColumn)

            cols = [TextColumn(label), BarColumn()]
            cols += ([DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()])
            cols.append(TimeRemainingColumn())
            bar = Progress(*cols, console=err_console(), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total)
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].stop()


@contextmanager
def transfer_bar(label: str, delay: float = 0.4) -> Iterator[TransferProgress]:
    """A bar with bytes and objects, drawn on stderr when the transfer lasts."""
    start = time.monotonic()
    state: dict[str, Any] = {"bar": None}

    def update(done: int, total: int, objs: int, total_objs: int) -> None:
        if not sys.stderr.isatty():
            return
        if state["bar"] is None:
            if time.monotonic() - start < delay:
                return
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)

            bar = Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                           TextColumn("{task.fields[objs]}"), TimeRemainingColumn(),
                           console=err_console(), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total, objs="")
        state["bar"].update(state["task"], completed=done, total=total,
                            objs=f"{objs}/{total_objs} objects")

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].stop()
