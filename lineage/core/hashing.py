"""Streaming BLAKE3 hashing, parallel across files, with a stat cache.

A file is hashed in fixed-size blocks, so memory stays flat whatever its size.
Many files are hashed by a thread pool (file reads and BLAKE3 release the GIL).
A file whose (device, inode, size, mtime_ns) is unchanged since it was last hashed
is not read again: its digest comes from the stat cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

import blake3

from lineage.core.progress import Progress
from lineage.errors import PathError

BLOCK_SIZE = 1 << 20
#: Files at or below this size are read in one call (one read, no loop).
SMALL_FILE = 1 << 20
#: Above this size BLAKE3 uses several threads on one file.
PARALLEL_FILE = 64 << 20
DIGEST_HEX_LEN = 64


def hash_bytes(data: bytes) -> str:
    """BLAKE3-256 of ``data`` as 64 hex characters.

    >>> hash_bytes(b"")[:16]
    'af1349b9f5f9a1a6'
    """
    return blake3.blake3(data).hexdigest()


def hash_file(path: str | os.PathLike[str], size_hint: int | None = None) -> str:
    """Stream the file at ``path`` through BLAKE3 and return the hex digest."""
    try:
        with open(path, "rb") as fh:
            if size_hint is not None and size_hint <= SMALL_FILE:
                return blake3.blake3(fh.read()).hexdigest()
            threads = blake3.blake3.AUTO if (size_hint or 0) >= PARALLEL_FILE else 1
            hasher = blake3.blake3(max_threads=threads)
            buf = bytearray(BLOCK_SIZE * 4 if threads != 1 else BLOCK_SIZE)
            view = memoryview(buf)
            while True:
                n = fh.readinto(buf)
                if not n:
                    break
                hasher.update(view[:n])
            return hasher.hexdigest()
    except FileNotFoundError:
        raise PathError(f"file vanished while hashing: {os.fspath(path)}") from None
    except OSError as exc:
        raise PathError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None


class FileStat(NamedTuple):
    """The stat fields that decide whether a file may have changed.

    A tuple, not a dataclass: status compares tens of thousands of them.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class HashCounter:
    """Counts files actually read and hashed (the stat cache's misses)."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0


def hash_many(
    items: Iterable[tuple[str, int]],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    counter: HashCounter | None = None,
) -> dict[str, str]:
    """Hash many files in parallel. ``items`` are (path, size); returns path -> digest."""
    items = list(items)
    total = sum(size for _, size in items)
    done = 0
    out: dict[str, str] = {}
    if not items:
        return out
    workers = workers or min(8, (os.cpu_count() or 1) * 2)

    def one(item: tuple[str, int]) -> tuple[str, int, str]:
        path, size = item
        return path, size, hash_file(path, size)

    if len(items) == 1 or workers == 1:
        results: Iterable[tuple[str, int, str]] = map(one, items)
        for path, size, digest in results:
            out[path] = digest
            done += size
            if progress:
                progress(done, total)
    else:
        from concurrent.futures import ThreadPoolExecutor  # lazy: hooks never need it

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for path, size, digest in pool.map(one, items, chunksize=64):
                out[path] = digest
                done += size
                if progress:
                    progress(done, total)
    if counter is not None:
        counter.files += len(items)
        counter.bytes += total
    return out
