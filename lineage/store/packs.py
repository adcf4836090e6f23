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

import struct
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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
