"""Pack files: many small objects in one remote file, with an index for range reads.

A pack is ``<id>.pack`` plus ``<id>.idx`` (the format is described in
``schemas/PACKS.md``):

* ``.pack``: the 8-byte magic ``LPACK01\\n`` followed by the objects' bytes, back to back.
* ``.idx``: the 8-byte magic ``LPIDX01\\n``, the object count (8 bytes, big-endian),
  then one 48-byte entry per object sorted by digest (32-byte raw BLAKE3 digest,
  8-byte offset into the pack, 8-byte length), then the 32-byte BLAKE3 digest of the
  whole ``.pack`` file.

The pack ID is the BLAKE3 hex digest of the ``.idx`` bytes, so the index names its
pack and the pack's checksum: neither can be swapped without changing the ID. Writers
upload the pack first and its index last; readers ignore a pack without an index,
so an interrupted upload is invisible and the next push simply writes a new pack.
"""

from __future__ import annotations

import os
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3

from lineage.errors import CorruptObjectError

PACK_MAGIC = b"LPACK01\n"
IDX_MAGIC = b"LPIDX01\n"
_ENTRY = struct.Struct(">32sQQ")
_COUNT = struct.Struct(">Q")
HEADER = len(PACK_MAGIC)


@dataclass(frozen=True)
class PackEntry:
    digest: str
    offset: int
    length: int


@dataclass(frozen=True)
class PackIndex:
    """The parsed ``.idx`` of one pack."""

    pack_id: str
    entries: tuple[PackEntry, ...]
    pack_digest: str

    @property
    def pack_size(self) -> int:
        return HEADER + sum(e.length for e in self.entries)

    def digests(self) -> Iterator[str]:
        return (e.digest for e in self.entries)

    def find(self, digest: str) -> PackEntry | None:
        keys = [e.digest for e in self.entries]
        i = bisect_left(keys, digest)
        return self.entries[i] if i < len(keys) and keys[i] == digest else None

    def encode(self) -> bytes:
        return encode_index(self.entries, self.pack_digest)

    @classmethod
    def decode(cls, data: bytes, expected_id: str | None = None) -> PackIndex:
        pack_id = blake3.blake3(data).hexdigest()
        if expected_id is not None and pack_id != expected_id:
            raise CorruptObjectError(f"pack index {expected_id[:12]} is corrupt (its bytes do not match its name)")
        if not data.startswith(IDX_MAGIC) or len(data) < HEADER + _COUNT.size + 32:
            raise CorruptObjectError(f"pack index {pack_id[:12]} is not a lineage pack index")
        (count,) = _COUNT.unpack_from(data, HEADER)
        start = HEADER + _COUNT.size
        if len(data) != start + count * _ENTRY.size + 32:
            raise CorruptObjectError(f"pack index {pack_id[:12]} has the wrong length")
        entries = tuple(
            PackEntry(raw.hex(), off, length)
            for raw, off, length in _ENTRY.iter_unpack(data[start:start + count * _ENTRY.size])
        )
        return cls(pack_id, entries, data[-32:].hex())


def encode_index(entries: Iterable[PackEntry], pack_digest: str) -> bytes:
    ordered = sorted(entries, key=lambda e: e.digest)
    parts = [IDX_MAGIC, _COUNT.pack(len(ordered))]
    parts += [_ENTRY.pack(bytes.fromhex(e.digest), e.offset, e.length) for e in ordered]
    parts.append(bytes.fromhex(pack_digest))
    return b"".join(parts)


class PackWriter:
    """Builds one pack in memory: ``add`` objects, then ``finish`` for (pack, idx, id)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = [PACK_MAGIC]
        self._entries: list[PackEntry] = []
        self._seen: set[str] = set()
        self.size = HEADER

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, digest: str, data: bytes) -> None:
        if digest in self._seen:
            return
        self._seen.add(digest)
        self._entries.append(PackEntry(digest, self.size, len(data)))
        self._chunks.append(data)
        self.size += len(data)

    def finish(self) -> tuple[bytes, bytes, str]:
        pack = b"".join(self._chunks)
        idx = encode_index(self._entries, blake3.blake3(pack).hexdigest())
        return pack, idx, blake3.blake3(idx).hexdigest()

    @property
    def digests(self) -> list[str]:
        return [e.digest for e in self._entries]


def coalesce(entries: list[PackEntry], gap: int = 256 * 1024) -> list[tuple[int, int, list[PackEntry]]]:
    """Group entries into ``(start, end, entries)`` ranges, merging gaps under ``gap`` bytes.

    One range read then carries many neighbouring objects.
    """
    out: list[tuple[int, int, list[PackEntry]]] = []
    for e in sorted(entries, key=lambda e: e.offset):
        if out and e.offset - out[-1][1] <= gap:
            start, _, group = out[-1]
            group.append(e)
            out[-1] = (start, max(out[-1][1], e.offset + e.length), group)
        else:
            out.append((e.offset, e.offset + e.length, [e]))
    return out


@dataclass(frozen=True)
class PackCheck:
    """What ``check_local`` found in one local pack."""

    pack_id: str
    #: every object the index lists (empty when the index cannot be read)
    digests: tuple[str, ...]
    #: listed objects whose bytes in the pack do not hash to their digest
    corrupt: tuple[str, ...]
    #: one line per problem with the pack itself, each naming it
    problems: tuple[str, ...]
    bytes_read: int


def check_local(idx_path: Path, progress: Callable[[int], None] | None = None) -> PackCheck:
    """Check one local pack: the index against its name, the pack against the index's
    checksum and size, and every object's bytes against its digest (one read of the pack).

    Never raises for bad bytes: a damaged pack is a finding of ``verify``, named here.
    """
    pack_id = idx_path.stem
    name = pack_id[:12]
    problems: list[str] = []
    try:
        data = idx_path.read_bytes()
    except OSError as exc:
        return PackCheck(pack_id, (), (), (f"pack {name}: its index cannot be read ({exc.strerror})",), 0)
    if blake3.blake3(data).hexdigest() != pack_id:
        problems.append(f"pack {name}: its index is corrupt (its bytes do not match its name)")
    try:
        index = PackIndex.decode(data)
    except CorruptObjectError:
        problems.append(f"pack {name}: its index is not a readable lineage pack index, "
                        "so its objects cannot be listed")
        return PackCheck(pack_id, (), (), tuple(problems), 0)
    digests = tuple(index.digests())
    pack_path = idx_path.with_suffix(".pack")
    try:
        size = pack_path.stat().st_size
    except OSError:
        problems.append(f"pack {name}: the .pack file is missing ({len(digests)} object(s))")
        return PackCheck(pack_id, digests, (), tuple(problems), 0)
    if size != index.pack_size:
        problems.append(f"pack {name}: the .pack file is {size} bytes, its index describes "
                        f"{index.pack_size} (truncated or extended)")
    whole = blake3.blake3()
    corrupt: list[str] = []
    read = 0
    with open(pack_path, "rb") as fh:
        head = fh.read(HEADER)
        whole.update(head)
        if head != PACK_MAGIC:
            problems.append(f"pack {name}: the .pack file does not start with the pack magic")
        pos = len(head)
        for e in sorted(index.entries, key=lambda e: e.offset):
            if pos < e.offset <= size:  # a gap (never written so): still part of the checksum
                gap = fh.read(e.offset - pos)
                whole.update(gap)
                pos += len(gap)
            if e.offset != pos:  # overlapping or past the end: read it on its own
                blob = os.pread(fh.fileno(), e.length, e.offset)
            else:
                blob = fh.read(e.length)
                whole.update(blob)
                pos += len(blob)
            if len(blob) != e.length or blake3.blake3(blob).hexdigest() != e.digest:
                corrupt.append(e.digest)
            read += len(blob)
            if progress:
                progress(len(blob))
        fh.seek(pos)
        for block in iter(lambda: fh.read(1 << 20), b""):
            whole.update(block)
    if whole.hexdigest() != index.pack_digest and size == index.pack_size:
        problems.append(f"pack {name}: the .pack file does not match the checksum in its index")
    return PackCheck(pack_id, digests, tuple(corrupt), tuple(problems), read)
