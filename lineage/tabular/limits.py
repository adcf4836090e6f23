"""Bounds on what reading one tabular file may cost: decompressed size, rows, derived bytes.

A small ``.csv.gz`` can expand a thousandfold; a Parquet file can hold a billion
run-length-encoded rows in a few kilobytes. Reading either in full costs minutes and
stores (and pushes) gigabytes of fingerprints. Each limit is checked while reading, so
a file is given up on as soon as it crosses one. The file's bytes are still versioned;
only its tabular metadata is skipped, and nothing is recorded, so raising the limit in
``.lineage/config.toml`` makes the next command read it (docs/tabular.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from lineage.config import TABULAR_LIMITS, tabular_limits
from lineage.core.units import format_size
from lineage.errors import LimitExceeded

__all__ = ["DecompressionGuard", "LimitExceeded", "Limits", "check_output", "check_rows", "human"]

#: Below this many decompressed bytes the ratio guard stays quiet: small, very repetitive
#: files (a column of zeros) compress far beyond any ratio and cost nothing to read.
RATIO_FLOOR = 64 << 20


def human(n: int) -> str:
    return format_size(n)


@dataclass(frozen=True)
class Limits:
    """Per-file limits (0 = none); ``from_repo`` reads the ``[tabular]`` settings."""

    max_decompressed_bytes: int = 0
    max_compression_ratio: int = 0
    max_rows: int = 0
    max_fingerprint_bytes: int = 0

    @classmethod
    def from_repo(cls, repo: Any) -> Limits:
        return cls(**tabular_limits(repo.config))

    @classmethod
    def defaults(cls) -> Limits:
        return cls(**TABULAR_LIMITS)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class DecompressionGuard:
    """A file-like view of a decompressing stream that counts the bytes it yields and
    raises ``LimitExceeded`` as soon as they cross the decompressed-size or ratio limit,
    so a bomb is stopped after at most one read block, never after it has expanded."""

    def __init__(self, inner: Any, compressed_size: int, limits: Limits, display: str) -> None:
        self.inner, self.limits, self.display = inner, limits, display
        self.compressed_size = max(1, compressed_size)
        self.count = 0
        self.exceeded: LimitExceeded | None = None
        self.closed = False
        ratio = limits.max_compression_ratio
        self._ratio_bound = max(RATIO_FLOOR, ratio * self.compressed_size) if ratio else 0

    def read(self, n: int = -1) -> bytes:
        if self.exceeded is not None:
            raise self.exceeded
        data = self.inner.read(n)
        self.count += len(data)
        lim = self.limits
        if lim.max_decompressed_bytes and self.count > lim.max_decompressed_bytes:
            self.exceeded = LimitExceeded(
                self.display, f"decompresses to more than {human(lim.max_decompressed_bytes)}",
                "max_decompressed_bytes", lim.max_decompressed_bytes)
        elif self._ratio_bound and self.count > self._ratio_bound:
            self.exceeded = LimitExceeded(
                self.display, f"decompresses to more than {lim.max_compression_ratio} times its "
                f"size of {human(self.compressed_size)} (a compression bomb?)",
                "max_compression_ratio", lim.max_compression_ratio)
        if self.exceeded is not None:
            raise self.exceeded
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def check_rows(limits: Limits, display: str, rows: int) -> None:
    if limits.max_rows and rows > limits.max_rows:
        raise LimitExceeded(display, f"has more than {limits.max_rows:,} rows", "max_rows", limits.max_rows)


def check_output(limits: Limits, display: str, size_of: Callable[[], int]) -> None:
    if limits.max_fingerprint_bytes:
        size = size_of()
        if size > limits.max_fingerprint_bytes:
            raise LimitExceeded(
                display, f"its fingerprints would take more than {human(limits.max_fingerprint_bytes)}",
                "max_fingerprint_bytes", limits.max_fingerprint_bytes)
