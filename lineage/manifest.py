"""Snapshot manifests and their canonical encoding.

A manifest lists (path, size, digest, executable) for every file of a snapshot,
sorted by the UTF-8 bytes of the path. Its canonical JSON encoding (see
``schemas/manifest.schema.json`` and ``schemas/MANIFEST.md``) is stored as an
object, and its BLAKE3 digest is the snapshot ID: the same content gives the same
ID on any machine.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, NamedTuple

from lineage import _canonical
from lineage.errors import IntegrityError, UnsafePathError
from lineage.hashing import hash_bytes

FORMAT = "lineage.manifest/1"


class Entry(NamedTuple):
    """One file of a manifest. An immutable tuple rather than a frozen dataclass:
    manifests hold hundreds of thousands of entries and tuples build ~5x faster."""

    path: str
    size: int
    digest: str
    executable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "digest": self.digest,
                "executable": self.executable}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        return cls(d["path"], int(d["size"]), d["digest"], bool(d.get("executable", False)))


def check_path(path: str) -> str:
    """Refuse a manifest path that is absolute, empty, or climbs out with ``..``."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path or (
        len(path) > 1 and path[1] == ":"
    ):
        raise UnsafePathError(f"unsafe path in manifest: {path!r} (absolute or malformed)")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(path) != path:
        raise UnsafePathError(f"unsafe path in manifest: {path!r} (must be relative, without . or ..)")
    return path


@dataclass(frozen=True)
class Manifest:
    """The content of a snapshot. ``kind`` is ``file`` (one entry) or ``folder``."""

    kind: str
    entries: tuple[Entry, ...]

    def validate(self) -> Manifest:
        for e in self.entries:
            check_path(e.path)
        return self

    def __post_init__(self) -> None:
        if not getattr(self, "_unchecked", False):
            self.validate()

    @classmethod
    def build(cls, kind: str, entries: list[Entry]) -> Manifest:
        return cls(kind, tuple(sorted(entries, key=lambda e: e.path.encode("utf-8"))))

    def to_dict(self) -> dict[str, Any]:
        files = [{"path": p, "size": n, "digest": d, "executable": x} for p, n, d, x in self.entries]
        return {"format": FORMAT, "kind": self.kind, "files": files}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        if d.get("format") != FORMAT:
            raise IntegrityError(f"unknown manifest format {d.get('format')!r}")
        return cls(d["kind"], tuple(Entry.from_dict(f) for f in d["files"]))

    def encode(self) -> bytes:
        return _canonical.dumps(self.to_dict())

    @classmethod
    def decode(cls, data: bytes, *, check_paths: bool = True) -> Manifest:
        try:
            raw = _canonical.loads(data)
        except ValueError:
            raise IntegrityError("manifest is not valid JSON") from None
        if check_paths:
            return cls.from_dict(raw)
        if raw.get("format") != FORMAT:
            raise IntegrityError(f"unknown manifest format {raw.get('format')!r}")
        entries = tuple(Entry(f["path"], f["size"], f["digest"], f["executable"]) for f in raw["files"])
        unchecked = object.__new__(_UncheckedManifest)
        object.__setattr__(unchecked, "kind", raw["kind"])
        object.__setattr__(unchecked, "entries", entries)
        return unchecked

    @property
    def id(self) -> str:
        return hash_bytes(self.encode())

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}


class _UncheckedManifest(Manifest):
    """A manifest read for comparison only; its paths were not validated."""

    _unchecked = True
