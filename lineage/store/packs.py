"""Pack files: many small objects in one file, with an index for range reads.

The one reader and writer of the pack format, for the local store (``.lineage/packs/``)
and for remotes (``packs/`` and ``events/``). A pack is ``<id>.pack`` plus ``<id>.idx``
(described in ``schemas/PACKS.md``):

* ``.pack``: the 8-byte magic ``LPACK01\\n`` followed by the objects' bytes, back to back.
* ``.idx``: the 8-byte magic ``LPIDX01\\n``, the object count (8 bytes, big-endian),
  then one 48-byte entry per object sorted by digest (32-byte raw BLAKE3 digest,
  8-byte offset into the pack, 8-byte length), then the 32-byte BLAKE3 digest of the
  whole ``.pack`` file.

The pack ID is the BLAKE3 hex digest of the ``.idx`` bytes, so the index names its
pack and the pack's checksum: neither can be swapped without changing the ID. Writers
put the pack first and its index last; readers ignore a pack without an index, so an
interrupted write is invisible and the next one simply writes a new pack.
"""

from __future__ import annotations

import io
import os
import struct
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import blake3

from lineage.errors import CorruptObjectError

PACK_MAGIC = b"LPACK01\n"
IDX_MAGIC = b"LPIDX01\n"
_ENTRY = struct.Struct(">32sQQ")
_COUNT = struct.Struct(">Q")
HEADER = len(PACK_MAGIC)
_ENTRIES_START = HEADER + _COUNT.size
#: one index entry as a numpy record (for ``LocalPack.locate``)
_INDEX_DTYPE = [("digest", "S32"), ("offset", ">u8"), ("length", ">u8")]
#: Small objects are gathered and written (and hashed) this many bytes at a time.
_WRITE_CHUNK = 4 << 20


# The value types are named tuples, not dataclasses: this module is on the start-up path
# of every command and hook (through the local store), and a tuple type is cheaper to make.

class PackEntry(NamedTuple):
    """Where one object lies in a pack."""

    digest: str
    offset: int
    length: int


def _check_index(data: bytes, name: str) -> int:
    """The entry count of a well-formed index (else CorruptObjectError naming ``name``)."""
    if not data.startswith(IDX_MAGIC) or len(data) < _ENTRIES_START + 32:
        raise CorruptObjectError(f"pack index {name} is not a lineage pack index")
    (count,) = _COUNT.unpack_from(data, HEADER)
    if len(data) != _ENTRIES_START + count * _ENTRY.size + 32:
        raise CorruptObjectError(f"pack index {name} has the wrong length")
    return count


def encode_index(entries: Iterable[PackEntry], pack_digest: str) -> bytes:
    return _encode_raw([(bytes.fromhex(e.digest), e.offset, e.length) for e in entries],
                       bytes.fromhex(pack_digest))


def _encode_raw(entries: list[tuple[bytes, int, int]], pack_digest: bytes) -> bytes:
    ordered = sorted(entries)
    return b"".join([IDX_MAGIC, _COUNT.pack(len(ordered)),
                     *(_ENTRY.pack(raw, off, n) for raw, off, n in ordered), pack_digest])


def _encode_records(records: bytearray | bytes, pack_digest: bytes) -> bytes:
    """The ``.idx`` of index entries already packed (48 bytes each, in any order): sorted
    as records, since an entry's bytes begin with its digest."""
    count = len(records) // _ENTRY.size
    if count > 4096:
        import numpy as np  # a large pack: one sort of fixed-width records, no object per entry

        body = np.sort(np.frombuffer(bytes(records), dtype=f"S{_ENTRY.size}")).tobytes()
    else:
        body = b"".join(sorted(records[i:i + _ENTRY.size] for i in range(0, len(records), _ENTRY.size)))
    return b"".join([IDX_MAGIC, _COUNT.pack(count), body, pack_digest])


class PackIndex(NamedTuple):
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
        count = _check_index(data, pack_id[:12])
        entries = tuple(
            PackEntry(raw.hex(), off, length)
            for raw, off, length in _ENTRY.iter_unpack(data[_ENTRIES_START:_ENTRIES_START + count * _ENTRY.size])
        )
        return cls(pack_id, entries, data[-32:].hex())


def blob(data: bytes, entry: PackEntry, base: int = 0) -> bytes | None:
    """The bytes of ``entry`` in ``data`` (a whole pack, or a range of it starting at
    ``base``), or None when they do not hash to its digest (corrupt or cut short)."""
    out = data[entry.offset - base:entry.offset - base + entry.length]
    if len(out) != entry.length or blake3.blake3(out).hexdigest() != entry.digest:
        return None
    return out


class LocalPack:
    """One pack on the local disk: its index kept as bytes and searched by bisection on
    the raw digests (no object per entry: a store may hold millions)."""

    def __init__(self, idx_path: Path) -> None:
        self.idx_path = idx_path
        self.pack_path = idx_path.with_suffix(".pack")
        self.id = idx_path.stem
        with open(idx_path, "rb") as fh:
            self._data = fh.read()
        # only the magic is checked: a damaged index is a finding of verify, named there
        if not self._data.startswith(IDX_MAGIC):
            raise CorruptObjectError(f"pack index {idx_path.name} is not a lineage pack index")
        (self.count,) = _COUNT.unpack_from(self._data, HEADER)
        self._fh: BinaryIO | None = None

    def _key(self, i: int) -> bytes:
        at = _ENTRIES_START + i * _ENTRY.size
        return self._data[at:at + 32]

    def raw_digests(self) -> Iterator[bytes]:
        """The 32-byte digests of every object listed, in index order."""
        data = self._data
        end = _ENTRIES_START + self.count * _ENTRY.size
        return (data[i:i + 32] for i in range(_ENTRIES_START, end, _ENTRY.size))

    def find(self, raw: bytes) -> tuple[int, int] | None:
        """(offset, length) of the object with raw digest ``raw``, if listed."""
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            if self._key(mid) < raw:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.count and self._key(lo) == raw:
            _, off, length = _ENTRY.unpack_from(self._data, _ENTRIES_START + lo * _ENTRY.size)
            return off, length
        return None

    def entries(self) -> Iterator[tuple[str, int, int]]:
        end = _ENTRIES_START + self.count * _ENTRY.size
        for raw, off, length in _ENTRY.iter_unpack(self._data[_ENTRIES_START:end]):
            yield raw.hex(), off, length

    def read(self, off: int, length: int) -> bytes:
        """The bytes at ``off``, by one positional read on a descriptor kept open (packs are
        immutable): no open or seek per object, and, unlike a mapping, no page of the pack
        counted in this process's memory once read."""
        fh = self._fh
        if fh is None:
            fh = self._fh = open(self.pack_path, "rb")
        return os.pread(fh.fileno(), length, off)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def locate_all(packs: list[LocalPack], digests: Iterable[str]) -> tuple[array, array, array]:
    """Where each of ``digests`` lies in ``packs``: three arrays in the order given, the
    pack's position in ``packs`` (-1: in none of them), the offset and the length.

    One sorted search per pack over its index as an array, with the digests held as
    32 bytes each: locating a million objects costs no object per entry.
    """
    import numpy as np  # a bulk read of many objects (a checkout) only

    raw = bytearray()
    for d in digests:
        raw += bytes.fromhex(d)
    wanted = np.frombuffer(raw, dtype="S32")
    which = np.full(len(wanted), -1, dtype=np.int32)
    offsets = np.zeros(len(wanted), dtype=np.int64)
    lengths = np.zeros(len(wanted), dtype=np.int64)
    for n, pack in enumerate(packs):
        left = np.flatnonzero(which < 0)
        if not len(left) or not pack.count:
            continue
        table = np.frombuffer(pack._data, dtype=_INDEX_DTYPE, count=pack.count, offset=_ENTRIES_START)
        keys = table["digest"]  # sorted (the index is written so); S32 compares as fixed-width bytes
        want = wanted[left]
        at = np.minimum(np.searchsorted(keys, want), pack.count - 1)
        hit = keys[at] == want
        found, at = left[hit], at[hit]
        which[found] = n
        offsets[found] = table["offset"][at]
        lengths[found] = table["length"][at]
    return (array("i", which.tobytes()), array("q", offsets.tobytes()), array("q", lengths.tobytes()))


class PackWriter:
    """Appends objects to a pack, hashing as it goes.

    ``out`` is a binary file opened for writing (the local store streams a pack to a
    temporary file); without it the pack is built in memory and ``finish`` returns
    its bytes (a push or a remote gc uploads it whole). Duplicates are stored once.
    """

    def __init__(self, out: BinaryIO | None = None) -> None:
        self._out = out if out is not None else io.BytesIO()
        self._memory = out is None
        self._out.write(PACK_MAGIC)
        self._hasher = blake3.blake3(PACK_MAGIC)
        #: the index entries as packed records (48 bytes each, not a tuple per object: a
        #: snapshot may add a million objects to its packs)
        self._records = bytearray()
        self._seen: set[bytes] = set()
        self._chunks: list[bytes] = []
        self._buffered = 0
        self.size = HEADER

    def __len__(self) -> int:
        return len(self._seen)

    def has(self, raw: bytes) -> bool:
        """Is the object of raw digest ``raw`` in this pack?"""
        return raw in self._seen

    def add(self, digest: str, data: bytes) -> None:
        raw = bytes.fromhex(digest)
        if raw in self._seen:
            return
        self._seen.add(raw)
        self._records += _ENTRY.pack(raw, self.size, len(data))
        self._chunks.append(data)
        self._buffered += len(data)
        self.size += len(data)
        if self._buffered >= _WRITE_CHUNK:
            self._drain()

    def _drain(self) -> None:
        if self._chunks:
            block = b"".join(self._chunks)
            self._out.write(block)
            self._hasher.update(block)
            self._chunks, self._buffered = [], 0

    def index(self) -> tuple[bytes, str]:
        """Write what is buffered; returns the ``.idx`` bytes and the pack ID."""
        self._drain()
        idx = _encode_records(self._records, self._hasher.digest())
        return idx, blake3.blake3(idx).hexdigest()

    def finish(self) -> tuple[bytes, bytes, str]:
        """(pack, idx, id) of a pack built in memory."""
        if not self._memory:
            raise TypeError("finish() is for packs built in memory; use index()")
        idx, pack_id = self.index()
        return self._out.getvalue(), idx, pack_id  # type: ignore[attr-defined]

    @property
    def digests(self) -> list[str]:
        size = _ENTRY.size
        return [self._records[i:i + 32].hex() for i in range(0, len(self._records), size)]


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


class PackCheck(NamedTuple):
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
