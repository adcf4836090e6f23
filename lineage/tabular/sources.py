"""Tables read by URL (by-reference snapshots): how to open them, and their sizes.

While a by-reference snapshot computes its tables' metadata, ``reading`` holds the
storage options its files are opened with and their sizes by URL: the Dask engine
hands the options to its workers with each task (``dask_engine``), and the pass
sizes its progress with the recorded sizes instead of a local ``stat``. The options
may carry credentials: ``StorageOptions`` never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class StorageOptions(dict):  # type: ignore[type-arg]
    """fsspec storage options whose text (repr, str, a log line, a task's description)
    never shows their values."""

    def __repr__(self) -> str:
        return f"StorageOptions({', '.join(sorted(self))}: values hidden)"

    __str__ = __repr__


@dataclass(frozen=True)
class Active:
    options: StorageOptions
    sizes: dict[str, int] = field(default_factory=dict)


_ACTIVE: ContextVar[Active | None] = ContextVar("lineage_tabular_sources", default=None)


@contextmanager
def reading(options: StorageOptions, sizes: dict[str, int]) -> Iterator[None]:
    """Open the URLs of the block's tables with ``options``; ``sizes`` by URL."""
    token = _ACTIVE.set(Active(options, dict(sizes)))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def options() -> StorageOptions | None:
    """The storage options of the URLs being read, or None (local files)."""
    active = _ACTIVE.get()
    return active.options if active is not None else None


def size_of(path: str) -> int:
    """The size of a table to read: recorded for a URL, else from the file system."""
    active = _ACTIVE.get()
    if active is not None and path in active.sizes:
        return active.sizes[path]
    return os.path.getsize(path)


#: Read-ahead of a table read by URL. A split reads its row groups, not the whole file:
#: s3fs's default (50 MiB) fetched a whole 10 MiB file for each of its splits.
URL_BLOCK = 4 << 20


def open_url(url: str, storage: dict[str, Any] | None) -> Any:
    """``url`` opened for reading through fsspec; ``storage``: the options of a
    by-reference source (None: a local path, opened as it is)."""
    import fsspec

    fs, target = fsspec.core.url_to_fs(url, **(storage or {}))
    if storage is None:
        return fs.open(target, "rb")
    return fs.open(target, "rb", block_size=URL_BLOCK)
