"""Snapshot manifests and their canonical encoding.

A manifest lists (path, size, digest, executable) for every file of a snapshot,
sorted by the UTF-8 bytes of the path. Its canonical JSON encoding (see
``schemas/manifest.schema.json`` and ``schemas/MANIFEST.md``) is stored as an
object, and its BLAKE3 digest is the snapshot ID: the same content gives the same
ID on any machine.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, NamedTuple

from lineage.core import canonical as _canonical
from lineage.errors import IntegrityError
from lineage.core.hashing import hash_bytes
from lineage.core.paths import check_relative

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
    """Refuse a manifest path that could leave its root (see ``lineage.core.paths``)."""
    return check_relative(path)


@dataclass(frozen=True)
class Manifest:
    """The content of a snapshot. ``kind`` is ``file`` (one entry) or ``folder``.

    ``dirs`` lists the empty folders of a folder snapshot (each one with no file or
    folder below it). It is encoded only when not empty, so a tree without empty
    folders keeps the ID it always had.
    """

    kind: str
    entries: tuple[Entry, ...]
    dirs: tuple[str, ...] = ()

    def validate(self) -> Manifest:
        packed = isinstance(self.entries, PackedEntries)
        for p in self.entries.paths() if packed else (e.path for e in self.entries):  # type: ignore[attr-defined]
            check_path(p)
        for d in self.dirs:
            check_path(d)
        return self

    def __post_init__(self) -> None:
        if not getattr(self, "_unchecked", False):
            self.validate()

    @classmethod
    def build(cls, kind: str, entries: list[Entry], dirs: list[str] | tuple[str, ...] = ()) -> Manifest:
        return cls(kind, tuple(sorted(entries, key=lambda e: e.path.encode("utf-8"))),
                   tuple(sorted(set(dirs), key=lambda d: d.encode("utf-8"))))

    def to_dict(self) -> dict[str, Any]:
        files = [{"path": p, "size": n, "digest": d, "executable": x} for p, n, d, x in self.entries]
        out: dict[str, Any] = {"format": FORMAT, "kind": self.kind, "files": files}
        if self.dirs:
            out["dirs"] = list(self.dirs)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, check_paths: bool = True) -> Manifest:
        """Parse a manifest document; anything malformed is an ``IntegrityError``."""
        if not isinstance(d, dict):
            raise IntegrityError("manifest is not a JSON object")
        if d.get("format") != FORMAT:
            raise IntegrityError(f"unknown manifest format {str(d.get('format'))[:40]!r}")
        kind, files, dirs = d.get("kind"), d.get("files"), d.get("dirs", [])
        if kind not in ("file", "folder") or not isinstance(files, list) or not isinstance(dirs, list):
            raise IntegrityError("malformed manifest (kind, files or dirs)")
        entries = tuple(_entry(f) for f in files)
        if (kind == "file" and (len(entries) != 1 or dirs)) or not all(isinstance(x, str) for x in dirs):
            raise IntegrityError("malformed manifest (a file snapshot holds exactly one file)")
        if check_paths:
            return cls(kind, entries, tuple(dirs))
        unchecked = object.__new__(_UncheckedManifest)
        object.__setattr__(unchecked, "kind", kind)
        object.__setattr__(unchecked, "entries", entries)
        object.__setattr__(unchecked, "dirs", tuple(dirs))
        return unchecked

    def encode(self) -> bytes:
        """The canonical JSON of ``to_dict()``, written entry by entry: the same bytes,
        without a dictionary per file (a manifest can hold a million files)."""
        return encode_text(self.kind, self.entries, self.dirs).encode("utf-8")

    def encode_text(self) -> str:
        """``encode()`` as text (what a ``snapshot`` event embeds)."""
        return encode_text(self.kind, self.entries, self.dirs)

    @classmethod
    def decode(cls, data: bytes, *, check_paths: bool = True) -> Manifest:
        try:
            raw = _canonical.loads(data)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise IntegrityError("manifest is not valid JSON") from None
        return cls.from_dict(raw, check_paths=check_paths)

    @property
    def id(self) -> str:
        return hash_bytes(self.encode())

    @property
    def total_size(self) -> int:
        sizes = getattr(self.entries, "sizes", None)
        return sum(sizes) if sizes is not None else sum(e.size for e in self.entries)

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    def view(self) -> ManifestView:
        """``to_dict()`` read-only and made as it is read (see ``ManifestView``)."""
        return ManifestView(self)


class ManifestView(Mapping[str, Any]):
    """A manifest as its document reads (``format``, ``kind``, ``files`` and ``dirs``),
    each file's dictionary made only when it is looked at: what the projectors of a
    snapshot just taken read, instead of a dictionary per file held at once. ``entries``
    and ``kind`` give the rows directly."""

    def __init__(self, manifest: Manifest) -> None:
        self._doc: dict[str, Any] = {"format": FORMAT, "kind": manifest.kind,
                                     "files": _FileDicts(manifest.entries)}
        if manifest.dirs:
            self._doc["dirs"] = list(manifest.dirs)
        self.kind = manifest.kind
        self.entries = manifest.entries

    def __getitem__(self, key: str) -> Any:
        return self._doc[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._doc)

    def __len__(self) -> int:
        return len(self._doc)


class _FileDicts(Sequence[dict[str, Any]]):
    def __init__(self, entries: tuple[Entry, ...]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [e.to_dict() for e in self._entries[i]]
        return self._entries[i].to_dict()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (e.to_dict() for e in self._entries)


class PackedEntries(Sequence[Entry]):
    """A manifest's entries held as columns: the paths' UTF-8 bytes end to end with a
    ``Q`` array of where each ends, a ``Q`` array of sizes, the digests as 32 raw bytes
    each and a byte per executable flag. About 60 bytes a file instead of an ``Entry``
    with its strings and number (about 290): what a snapshot of a million files builds.
    Each ``Entry`` is made as it is read."""

    __slots__ = ("names", "ends", "sizes", "digests", "executable")

    def __init__(self, names: bytes | bytearray, ends: array, sizes: array, digests: bytes | bytearray,
                 executable: bytes | bytearray) -> None:
        self.names, self.ends, self.sizes, self.digests, self.executable = names, ends, sizes, digests, executable

    @classmethod
    def of(cls, entries: Sequence[tuple[str, int, str, bool]]) -> PackedEntries:
        """The columns of ``entries`` (path, size, digest, executable)."""
        encoded = [e[0].encode("utf-8") for e in entries]
        return cls(b"".join(encoded), array("Q", accumulate(map(len, encoded))),
                   array("Q", [e[1] for e in entries]), b"".join(bytes.fromhex(e[2]) for e in entries),
                   bytes(bool(e[3]) for e in entries))

    def __len__(self) -> int:
        return len(self.ends)

    def paths(self) -> Iterator[str]:
        names, start = self.names, 0
        for end in self.ends:
            yield names[start:end].decode("utf-8")
            start = end

    def _entry(self, i: int) -> Entry:
        start = self.ends[i - 1] if i else 0
        return Entry(self.names[start:self.ends[i]].decode("utf-8"), self.sizes[i],
                     self.digests[32 * i:32 * i + 32].hex(), bool(self.executable[i]))

    def __getitem__(self, i):  # type: ignore[override]
        n = len(self.ends)
        if isinstance(i, slice):
            return [self._entry(j) for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("entry index out of range")
        return self._entry(i)

    def __iter__(self) -> Iterator[Entry]:
        digests, exe = self.digests, self.executable
        for i, (path, size) in enumerate(zip(self.paths(), self.sizes)):
            yield Entry(path, size, digests[32 * i:32 * i + 32].hex(), bool(exe[i]))


_TRUE_FALSE = ("false", "true")


def encode_parts(kind: str, entries: Sequence[tuple[str, int, str, bool]], dirs: tuple[str, ...] = ()) -> bytes:
    """Canonical JSON of a manifest from its sorted parts (see ``encode_text``)."""
    return encode_text(kind, entries, dirs).encode("utf-8")


def encode_text(kind: str, entries: Sequence[tuple[str, int, str, bool]], dirs: tuple[str, ...] = ()) -> str:
    """Canonical JSON text of a manifest from its sorted parts, character for character
    what ``canonical.dumps(Manifest(kind, entries, dirs).to_dict())`` gives: keys in sorted
    order (``digest``, ``executable``, ``path``, ``size`` per file; ``dirs``, ``files``,
    ``format``, ``kind`` at the top), strings as the canonical encoder writes them.
    Written in chunks of files, so no more than one chunk's pieces exist besides the text."""
    string = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    tf = _TRUE_FALSE
    chunks = [",".join([
        f'{{"digest":{string(d)},"executable":{tf[bool(x)]},"path":{string(p)},"size":{int(n)}}}'
        for p, n, d, x in entries[i:i + _CHUNK]]) for i in range(0, len(entries), _CHUNK)]
    head = '{"dirs":' + string(list(dirs)) + "," if dirs else "{"
    return "".join([head, '"files":[', ",".join(chunks), '],"format":', string(FORMAT), ',"kind":',
                    string(kind), "}"])


def encode_into(out: bytearray, kind: str, entries: Sequence[tuple[str, int, str, bool]],
                dirs: tuple[str, ...] = ()) -> bytearray:
    """Append the canonical bytes of a manifest (``encode_parts``) to ``out``, a chunk of
    files at a time: besides ``out`` only one chunk's text exists at once."""
    string = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    tf = _TRUE_FALSE
    out += (('{"dirs":' + string(list(dirs)) + "," if dirs else "{") + '"files":[').encode("utf-8")
    for i in range(0, len(entries), _CHUNK):
        chunk = ",".join([
            f'{{"digest":{string(d)},"executable":{tf[bool(x)]},"path":{string(p)},"size":{int(n)}}}'
            for p, n, d, x in entries[i:i + _CHUNK]])
        out += (("," if i else "") + chunk).encode("utf-8")
    out += ('],"format":' + string(FORMAT) + ',"kind":' + string(kind) + "}").encode("utf-8")
    return out


_CHUNK = 8192


class _UncheckedManifest(Manifest):
    """A manifest read for comparison only; its paths were not validated."""

    _unchecked = True


def _entry(f: Any) -> Entry:
    if not isinstance(f, dict):
        raise IntegrityError("malformed manifest entry (not an object)")
    path, size, digest, executable = f.get("path"), f.get("size"), f.get("digest"), f.get("executable", False)
    if (not isinstance(path, str) or type(size) is not int or size < 0 or not isinstance(digest, str)
            or len(digest) != 64 or not isinstance(executable, bool)):
        raise IntegrityError(f"malformed manifest entry for {str(path)[:80]!r}")
    return Entry(path, size, digest, executable)
