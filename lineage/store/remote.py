"""A remote object store on any fsspec filesystem (a local folder, S3, ...).

Layout under the remote's root (see ``docs/remotes.md``)::

    lineage-remote.json        {"format": "lineage.remote/1"}
    objects/ab/cdef...         large objects, one file each, named by digest
    packs/<id>.pack, <id>.idx  small objects packed together (lineage.store.packs)
    events/<id>.pack, <id>.idx events of the log, packed the same way (digest = event ID)

Writes are safe against interruption: a local folder gets a temporary name and a
rename, S3 objects appear whole or not at all, and a pack counts only once its
index exists. "What does the remote have" is one listing of ``packs/`` and
``events/`` plus one (paginated) listing of ``objects/``; pack indexes are immutable
(named by their digest) and cached locally, so only new ones are downloaded.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import blake3

from lineage.core import faults as _faults
from lineage.core.hashing import BLOCK_SIZE
from lineage.errors import CorruptObjectError, LineageError, RemoteError
from lineage.store.backends import RemoteSpec, describe_error, filesystem
from lineage.store.objects import start_writeout
from lineage.store.packs import PackIndex

FORMAT = "lineage.remote/1"
MARKER = "lineage-remote.json"
_IDX_NAME = re.compile(r"([0-9a-f]{64})\.idx$")
_PACK_NAME = re.compile(r"([0-9a-f]{64})\.pack$")
#: Size of one part of a multipart upload or ranged download (S3 allows 5 MiB to 5 GiB,
#: at most MAX_PARTS). Small enough to stay in the CPU's caches while it is read,
#: checksummed and sent: 32 MiB parts cost the client twice the CPU time.
PART_SIZE = 8 << 20
MIN_PART_SIZE, MAX_PART_SIZE, MAX_PARTS = 5 << 20, 5 << 30, 10_000
#: Size of one ranged GET of a large download: received straight into the page cache (no
#: buffer to keep in the caches), where 16 MiB halves the requests of 8 MiB for less CPU;
#: 32 MiB costs more again (more pages made writable ahead of the bytes).
GET_PART_SIZE = 16 << 20
#: Multipart parts in flight at once across all uploads of one remote (memory: this many parts).
PARTS_IN_FLIGHT = 8
_OBJ_PATH = re.compile(r"objects/([0-9a-f]{2})/([0-9a-f]{62})$")
#: Schemes with no real folders: creating one would mean creating a bucket.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs"})

T = TypeVar("T")


@dataclass
class Inventory:
    """What the remote holds: loose objects (digest -> size) and pack indexes."""

    loose: dict[str, int] = field(default_factory=dict)
    packs: dict[str, PackIndex] = field(default_factory=dict)
    events: dict[str, PackIndex] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)  # pack data or temporaries without an index
    mtimes: dict[str, float] = field(default_factory=dict)  # remote path -> modified (epoch s)

    def __post_init__(self) -> None:
        self._where: dict[str, tuple[str, Any]] | None = None

    def locate(self) -> dict[str, tuple[str, Any]]:
        """digest -> ("loose", size) or ("pack", (pack_id, PackEntry)); first pack wins."""
        if self._where is None:
            where: dict[str, tuple[str, Any]] = {}
            for pid in sorted(self.packs):
                for e in self.packs[pid].entries:
                    where.setdefault(e.digest, ("pack", (pid, e)))
            for d, size in self.loose.items():
                where[d] = ("loose", size)  # a whole file beats a range read
            self._where = where
        return self._where

    def has(self, digest: str) -> bool:
        return digest in self.locate()

    def event_ids(self) -> set[str]:
        return {d for idx in self.events.values() for d in idx.digests()}

    @property
    def object_count(self) -> int:
        return len(self.locate())


class RemoteStore:
    """Objects, packs and events on one remote."""

    def __init__(self, remote: RemoteSpec, cache_dir: Path | None = None) -> None:
        self.remote = remote
        self.fs, self.root = filesystem(remote)
        self.local = remote.scheme == "file"
        key = blake3.blake3(remote.url.encode()).hexdigest()[:16]
        self.cache = cache_dir / key if cache_dir else None
        self.requests = 0  # write and read calls made (for tests and reports)
        self._lock = threading.Lock()
        self._client: Any = None  # botocore S3 client of multipart uploads (made on first use)
        self._part_pool: Any = None

    # -- paths ------------------------------------------------------------------
    def _p(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def object_path(self, digest: str) -> str:
        return self._p("objects", digest[:2], digest[2:])

    def pack_path(self, kind: str, pack_id: str, ext: str) -> str:
        return self._p(kind, f"{pack_id}.{ext}")

    # -- error handling -------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one backend call, turning backend failures into a RemoteError."""
        self.requests += 1
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, LineageError):
            raise
        except PermissionError as exc:
            raise RemoteError(f"remote {self.remote.name!r} ({self.remote.url}) refused access: "
                              f"{type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001 - backends raise anything (botocore, aiohttp, OSError)
            raise describe_error(self.remote, exc) from None

    # -- format -----------------------------------------------------------------
    def ensure(self) -> None:
        """Create the root and its format marker (first push).

        A missing bucket is refused, never created: a typo would otherwise make a new
        bucket with the account's default settings (as DVC, lineage leaves that to the
        owner). A local remote's folder is created, as ``git init --bare`` would.
        """
        marker = self._p(MARKER)
        try:
            data = self.call(self.fs.cat_file, marker)
        except FileNotFoundError:
            if self.local:
                os.makedirs(self.root, exist_ok=True)
            else:
                self._require_bucket()
                if self.remote.scheme not in _OBJECT_STORES:
                    self.call(self.fs.makedirs, self.root, exist_ok=True)
            self.write_bytes(marker, json.dumps({"format": FORMAT}).encode())
            return
        self._check_marker(data)

    # -- existence --------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return self.root.split("/", 1)[0]

    def _bucket_exists(self) -> bool | None:
        """Whether the S3 bucket exists (None: cannot tell, e.g. HEAD is not allowed)."""
        if self.remote.scheme not in ("s3", "s3a"):
            return None
        try:
            self.call(self.fs.call_s3, "head_bucket", Bucket=self.bucket)
        except FileNotFoundError:
            return False
        except RemoteError:
            return None  # 403 and the like: the bucket may exist; let the real call tell
        return True

    def _require_bucket(self) -> None:
        if self._bucket_exists() is False:
            endpoint = self.remote.options.get("endpoint_url")
            how = f"aws s3 mb s3://{self.bucket}" + (f" --endpoint-url {endpoint}" if endpoint else "")
            raise RemoteError(f"bucket {self.bucket!r} does not exist (remote {self.remote.name!r}, "
                              f"{self.remote.url}); create it first, e.g. '{how}'")

    def missing_error(self) -> RemoteError:
        """The error for a remote nothing was ever pushed to (or a mistyped URL)."""
        if self.local and not os.path.isdir(self.root):
            return RemoteError(f"remote {self.remote.name!r} ({self.remote.url}) does not exist: "
                               "no such folder; check the URL with 'lineage remote list'")
        if self._bucket_exists() is False:
            return RemoteError(f"bucket {self.bucket!r} does not exist (remote {self.remote.name!r}, "
                               f"{self.remote.url}); check the URL with 'lineage remote list'")
        return RemoteError(f"remote {self.remote.name!r} ({self.remote.url}) is empty or does not "
                           "exist: nothing has been pushed there")

    def _check_marker(self, data: bytes) -> None:
        try:
            fmt = json.loads(data).get("format")
        except (ValueError, AttributeError):
            fmt = None
        if fmt != FORMAT:
            raise RemoteError(f"remote {self.remote.name!r} holds an unknown format {fmt!r}; "
                              f"this version reads {FORMAT}")

    # -- listing ----------------------------------------------------------------
    def _list(self, kind: str) -> list[dict[str, Any]]:
        try:
            return self.call(self.fs.ls, self._p(kind), detail=True)
        except FileNotFoundError:
            return []

    def inventory(self, *, objects: bool = True, jobs: int = 8) -> Inventory:
        """List what the remote holds. Raises RemoteError when it cannot be reached, and
        when nothing was ever pushed there (no marker, no data: a missing bucket or a
        mistyped prefix must not read as "nothing to fetch")."""
        try:
            self._check_marker(self.call(self.fs.cat_file, self._p(MARKER)))
            marked = True
        except FileNotFoundError:
            marked = False
        inv = self._inventory(objects=objects, jobs=jobs)
        if not marked and not (inv.packs or inv.events or inv.loose or inv.orphans):
            raise self.missing_error()
        return inv

    def _inventory(self, *, objects: bool, jobs: int) -> Inventory:
        inv = Inventory()
        for kind, target in (("packs", inv.packs), ("events", inv.events)):
            listing = self._list(kind)
            names = {os.path.basename(e["name"].rstrip("/")): e for e in listing}
            ids = [m.group(1) for n in names if (m := _IDX_NAME.fullmatch(n))]
            for name, e in names.items():
                if (t := _mtime(e)) is not None:
                    inv.mtimes[e["name"]] = t
                m = _PACK_NAME.fullmatch(name)
                if (m and m.group(1) not in ids) or ".tmp-" in name:
                    inv.orphans.append(e["name"])
            for pid, idx in zip(ids, self._indexes(kind, ids, jobs)):
                if idx is not None:
                    target[pid] = idx
        if objects:
            try:
                found = self.call(self.fs.find, self._p("objects"), detail=True)
            except FileNotFoundError:
                found = {}
            prefix = self.root.rstrip("/") + "/"
            for path, info in found.items():
                rel = path[len(prefix):] if path.startswith(prefix) else path
                m = _OBJ_PATH.search(rel)
                if (t := _mtime(info)) is not None:
                    inv.mtimes[path] = t
                if m:
                    inv.loose[m.group(1) + m.group(2)] = int(info.get("size") or 0)
                elif ".tmp-" in rel:
                    inv.orphans.append(path)
        return inv

    def _indexes(self, kind: str, ids: list[str], jobs: int) -> list[PackIndex | None]:
        """Pack indexes, from the local cache where possible (they never change)."""
        out: dict[str, PackIndex | None] = {}
        todo = []
        for pid in ids:
            cached = self.cache / "idx" / f"{pid}.idx" if self.cache else None
            if cached is not None and cached.exists():
                try:
                    out[pid] = PackIndex.decode(cached.read_bytes(), pid)
                    continue
                except CorruptObjectError:
                    cached.unlink(missing_ok=True)
            todo.append(pid)
        if todo:
            paths = [self.pack_path(kind, pid, "idx") for pid in todo]
            self.requests += len(paths) - 1
            try:
                blobs = self.call(self.fs.cat, paths, on_error="return")
            except FileNotFoundError:
                blobs = {}
            for pid, path in zip(todo, paths):
                data = _lookup(blobs, path)
                if not isinstance(data, bytes):
                    out[pid] = None  # removed meanwhile (gc)
                    continue
                idx = PackIndex.decode(data, pid)
                out[pid] = idx
                if self.cache is not None:
                    _atomic_local_write(self.cache / "idx" / f"{pid}.idx", data, sync=False)
        return [out[pid] for pid in ids]

    # -- writing ----------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes) -> None:
        if self.local:
            self.requests += 1
            _atomic_local_write(Path(path), data, sync=True)
        else:
            self.call(self.fs.pipe_file, path, data)

    def put_pack(self, kind: str, pack: bytes, idx: bytes, pack_id: str) -> None:
        """Upload a pack, then its index: the index makes it visible."""
        self.write_bytes(self.pack_path(kind, pack_id, "pack"), pack)
        _faults.point("remote.pack_data")  # data without its index: an orphan, ignored, collected
        self.write_bytes(self.pack_path(kind, pack_id, "idx"), idx)

    def put_file(self, digest: str, src: str) -> None:
        """Upload one large object from a local file.

        On S3 a file larger than two parts goes up as a multipart upload whose parts
        share one budget of parts in flight with every other upload of this store
        (``_put_multipart``); elsewhere it is one write.
        """
        dest = self.object_path(digest)
        if self.local:
            self.requests += 1
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = f"{dest}.tmp-{uuid.uuid4().hex[:12]}"
            try:
                with open(src, "rb") as s, open(tmp, "wb") as d:
                    for block in iter(lambda: s.read(BLOCK_SIZE), b""):
                        d.write(block)
                    d.flush()
                    os.fsync(d.fileno())
                os.replace(tmp, dest)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            return
        size = os.path.getsize(src)
        if self.remote.scheme in ("s3", "s3a") and size >= 2 * self.part_size:
            self.call(self._put_multipart, src, dest, size)
        else:
            self.call(self.fs.put_file, src, dest)

    @property
    def part_size(self) -> int:
        return int(self.remote.options.get("part_size", PART_SIZE))

    @property
    def get_part_size(self) -> int:
        """One ranged GET of a large download: the remote's ``part_size`` when set, else
        ``GET_PART_SIZE``."""
        return int(self.remote.options.get("part_size", GET_PART_SIZE))

    def _parts(self) -> tuple[Any, Any]:
        """The S3 client and the pool of part senders every upload of this store shares."""
        with self._lock:
            if self._part_pool is None:
                from concurrent.futures import ThreadPoolExecutor

                from lineage.store.backends import s3_client

                self._client = s3_client(self.remote)
                self._part_pool = ThreadPoolExecutor(
                    max_workers=int(self.remote.options.get("parts", PARTS_IN_FLIGHT)),
                    thread_name_prefix="lineage-part")
            return self._client, self._part_pool

    def _put_multipart(self, src: str, dest: str, size: int) -> None:
        """One multipart upload; its parts go to the shared pool of part senders.

        Each sender reads its part (``pread``), computes its CRC32 (sent with the part
        and checked by the server) and sends it; the socket write releases the GIL and
        copies nothing, so parts of all uploads move at once, at most one per sender
        (the memory held is that many parts). The object appears under its key only
        when the upload completes; on any failure the upload is aborted.
        """
        client, pool = self._parts()
        bucket, key = dest.split("/", 1)
        part = max(self.part_size, -(-size // MAX_PARTS))
        count = -(-size // part)
        self.requests += 1 + count  # and one counted by call()
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        fd = os.open(src, os.O_RDONLY)
        failed = threading.Event()

        def send(i: int) -> dict[str, Any]:
            if failed.is_set():
                raise _Cancelled()
            body, crc = _read_part(fd, i * part, min(part, size - i * part))
            out = client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=i + 1,
                                     Body=body, ChecksumCRC32=crc)
            _faults.point("remote.part")  # some parts sent: nothing visible under the key
            return {"PartNumber": i + 1, "ETag": out["ETag"]}

        futures = [pool.submit(send, i) for i in range(count)]
        try:
            parts = [f.result() for f in futures]
            client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                             MultipartUpload={"Parts": parts})
        except BaseException:
            _stop(futures, failed)
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                pass
            raise
        finally:
            os.close(fd)
        self.fs.invalidate_cache(dest)

    # -- reading ----------------------------------------------------------------
    def read_range(self, kind: str, pack_id: str, start: int, end: int) -> bytes:
        return self.call(self.fs.cat_file, self.pack_path(kind, pack_id, "pack"), start=start, end=end)

    def read_pack(self, kind: str, pack_id: str) -> bytes:
        return self.call(self.fs.cat_file, self.pack_path(kind, pack_id, "pack"))

    def get_file(self, digest: str, dest: Path, *, size: int | None = None,
                 writeout: bool = True) -> str:
        """Download one loose object to ``dest``; returns the digest of what arrived.

        On S3 an object of two parts or more (``size``, from the inventory) comes down as
        ranged GETs on the shared part senders (see ``_get_ranges``), hashed as it lands,
        each part's write-out to disk started once hashed when ``writeout`` (a flush is
        to follow).
        """
        hasher = blake3.blake3()
        src = self.object_path(digest)
        if self.local:
            self.requests += 1
            with open(src, "rb") as s, open(dest, "wb") as d:
                for block in iter(lambda: s.read(BLOCK_SIZE), b""):
                    hasher.update(block)
                    d.write(block)
            return hasher.hexdigest()
        if size is not None and self.remote.scheme in ("s3", "s3a") and size >= 2 * self.get_part_size:
            return self.call(self._get_ranges, src, dest, size, writeout)
        self.call(self.fs.get_file, src, str(dest))
        if os.path.getsize(dest) >= (16 << 20):
            # the download is a private temporary file: mapped and hashed on every core
            return blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(str(dest)).hexdigest()
        with open(dest, "rb") as fh:
            for block in iter(lambda: fh.read(BLOCK_SIZE), b""):
                hasher.update(block)
        return hasher.hexdigest()

    def _get_ranges(self, src: str, dest: Path, size: int, writeout: bool = True) -> str:
        """Download ``src`` (``size`` bytes) into ``dest`` as concurrent ranged GETs and
        return the BLAKE3 digest of what arrived.

        Each part moves from its socket into its range of ``dest`` by ``splice(2)``, the
        bytes never copied into this process (``_splice_body``); where that cannot be done
        (TLS, not Linux) it is received straight into a shared mapping of its range
        (``_receive``). Either way no buffer in between and no writers contending for the
        file's lock. Parts are hashed in order as they land, read from the mapping by
        whichever sender completes the next one (parts are sent for in order, so they
        mostly arrive so); a part's write-out starts once it is hashed, and its pages
        leave this process's memory (they stay in the page cache).
        """
        client, pool = self._parts()
        bucket, key = src.split("/", 1)
        part = self.get_part_size
        count = -(-size // part)
        self.requests += count - 1
        failed = threading.Event()
        hasher = blake3.blake3()
        state = {"next": 0, "hashing": False}
        landed: set[int] = set()
        lock = threading.Lock()
        fd = os.open(dest, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.posix_fallocate(fd, 0, size)  # one extent, not one per part written out of order
        except OSError:
            os.ftruncate(fd, size)  # not supported here: a sparse file of the right size

        def span(i: int) -> tuple[int, int]:
            return i * part, min(size, (i + 1) * part)

        def hash_landed() -> None:
            """Hash every landed part that continues the hashed prefix (one hasher at a time)."""
            while True:
                with lock:
                    i = state["next"]
                    if state["hashing"] or i not in landed:
                        return
                    state["hashing"] = True
                    landed.discard(i)
                try:
                    start, end = span(i)
                    with memoryview(mm) as whole, whole[start:end] as view:
                        hasher.update(view)
                    if writeout:
                        start_writeout(fd, start, end - start)
                    _release(mm, start, end)
                finally:
                    with lock:
                        state["hashing"] = False
                        state["next"] = i + 1

        def fetch(i: int) -> None:
            if failed.is_set():
                raise _Cancelled()
            start, end = span(i)
            body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"]
            try:
                if not _splice_body(body, fd, start, end, key, size):
                    _prefault(mm, start, end)
                    with memoryview(mm) as whole, whole[start:end] as view:
                        _receive(body, view, key, start, size)
            finally:
                body.close()
            with lock:
                landed.add(i)
            hash_landed()

        try:
            with _mapping(fd, size) as mm:
                futures = [pool.submit(fetch, i) for i in range(count)]
                try:
                    for f in futures:
                        f.result()
                except BaseException:
                    _stop(futures, failed)
                    raise
                hash_landed()  # a sender that found the hasher busy left its part behind
                if state["next"] != count:
                    raise OSError(f"object {key}: {count - state['next']} part(s) not hashed")
        finally:
            os.close(fd)
        return hasher.hexdigest()

    def hash_loose(self, digest: str) -> str:
        """Stream one loose object and return the digest of its bytes."""
        def stream() -> str:
            # reads fail mid-way too (a server dying): inside call(), so they become RemoteError
            hasher = blake3.blake3()
            with self.fs.open(self.object_path(digest), "rb", block_size=BLOCK_SIZE) as fh:
                for block in iter(lambda: fh.read(BLOCK_SIZE), b""):
                    hasher.update(block)
            return hasher.hexdigest()

        return self.call(stream)

    # -- abandoned multipart uploads ------------------------------------------------
    def incomplete_uploads(self) -> list[tuple[str, str, float | None]]:
        """Multipart uploads under ``objects/`` never completed nor aborted (a push
        killed mid-file): (key, upload ID, started, epoch s). Invisible, but they hold
        space until aborted. Empty for backends without multipart uploads."""
        if self.remote.scheme not in ("s3", "s3a"):
            return []
        prefix = self._p("objects").split("/", 1)[1] + "/"
        out: list[tuple[str, str, float | None]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self.call(self.fs.call_s3, "list_multipart_uploads", **kwargs)
            for u in page.get("Uploads") or []:
                out.append((u["Key"], u["UploadId"], _mtime({"mtime": u.get("Initiated")})))
            if not page.get("IsTruncated"):
                return out
            kwargs.update(KeyMarker=page.get("NextKeyMarker"), UploadIdMarker=page.get("NextUploadIdMarker"))

    def abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.call(self.fs.call_s3, "abort_multipart_upload", Bucket=self.bucket, Key=key,
                      UploadId=upload_id)
        except FileNotFoundError:
            pass  # completed or aborted meanwhile

    # -- removing ---------------------------------------------------------------
    def remove(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        if paths:
            self.requests += len(paths) - 1
            try:
                self.call(self.fs.rm, paths)
            except FileNotFoundError:
                pass

    def modified(self, path: str) -> float | None:
        """Modification time (epoch seconds) of a remote path, when the backend tells."""
        try:
            info = self.call(self.fs.info, path)
        except FileNotFoundError:
            return None
        return _mtime(info)


def _mtime(info: dict[str, Any]) -> float | None:
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _Cancelled(Exception):
    """A part not moved because another part of its transfer failed."""


def _stop(futures: list[Any], failed: threading.Event) -> None:
    """After a part failed: start no other part, and wait for those running (none may
    still use the file when it is closed)."""
    from concurrent.futures import wait

    failed.set()
    for f in futures:
        f.cancel()
    wait(futures)


def _read_part(fd: int, offset: int, length: int) -> tuple[bytearray, str]:
    """Bytes ``offset .. offset + length`` of ``fd`` and their CRC32 (base64, as S3 wants).

    A bytearray, not bytes: botocore would wrap bytes in a file object sent in small
    reads; a buffer goes to the socket in one ``sendall``.
    """
    import base64

    buf = _part_buffer(length)
    view = memoryview(buf)
    got = 0
    while got < length:
        n = os.preadv(fd, [view[got:]], offset + got)
        if n == 0:
            raise OSError(f"file shrank while uploading (expected {length} bytes at {offset})")
        got += n
    crc = _crc32()(buf)
    return buf, base64.b64encode(crc.to_bytes(4, "big")).decode()


_MADV_POPULATE_WRITE = 23  # linux/mman.h, Linux 5.14+


@contextmanager
def _mapping(fd: int, size: int) -> Iterator[Any]:
    """The file ``fd`` (``size`` bytes) mapped shared and writable, for the parts' views."""
    import mmap

    mm = mmap.mmap(fd, size)
    try:
        yield mm
    finally:
        mm.close()


def _prefault(mm: Any, start: int, end: int) -> None:
    """Make the pages of bytes ``start .. end`` of the mapping writable in one call where
    the kernel can (Linux 5.14+); elsewhere they fault in as they are written."""
    import mmap

    base = start - start % mmap.PAGESIZE
    try:
        mm.madvise(_MADV_POPULATE_WRITE, base, end - base)
    except (OSError, ValueError):
        pass


def _release(mm: Any, start: int, end: int) -> None:
    """Drop bytes ``start .. end`` of the mapping from this process's memory; the pages
    stay in the page cache (dirty ones are written out as usual)."""
    import mmap

    base = start - start % mmap.PAGESIZE
    try:
        mm.madvise(mmap.MADV_DONTNEED, base, end - base)
    except (OSError, ValueError):
        pass


_SPLICE_CHUNK = 1 << 20
_pipes = threading.local()


def _splice_body(body: Any, fd: int, start: int, end: int, key: str, size: int) -> bool:
    """Move a GET's body (bytes ``start .. end`` of the object) from its socket into the
    file ``fd`` at ``start`` with ``splice(2)``: socket to pipe to page cache, the bytes
    never copied into this process. False (nothing read) where that cannot be done: not
    Linux, TLS, a chunked or content-encoded body, or no plain socket under botocore's
    stream; the caller then receives it another way.
    """
    if not hasattr(os, "splice"):
        return False
    raw = getattr(body, "_raw_stream", None)
    resp = getattr(raw, "_fp", None)  # the http.client response under urllib3's
    reader = getattr(resp, "fp", None)  # its buffered reader over the socket
    sock = getattr(getattr(reader, "raw", None), "_sock", None)
    if (sock is None or getattr(resp, "chunked", True) or getattr(resp, "length", None) != end - start
            or raw.headers.get("content-encoding") or type(sock).__name__ != "socket"
            or not hasattr(reader, "peek")):
        return False
    import select

    at = start
    held = reader.peek(1)[: end - start]  # what came in with the headers
    if held:
        reader.read(len(held))
        while held:
            n = os.pwrite(fd, held, at)
            at += n
            held = held[n:]
    pipe = getattr(_pipes, "pipe", None)
    if pipe is None:
        pipe = _pipes.pipe = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(pipe[1], 1031, _SPLICE_CHUNK)  # F_SETPIPE_SZ
        except OSError:
            pass
    sfd, timeout = sock.fileno(), sock.gettimeout()
    poll = select.poll()
    poll.register(sfd, select.POLLIN)
    try:
        while at < end:
            try:
                n = os.splice(sfd, pipe[1], min(_SPLICE_CHUNK, end - at), flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                if not poll.poll(None if timeout is None else int(timeout * 1000)):
                    raise TimeoutError(f"object {key}: no bytes for {timeout:.0f} s") from None
                continue
            if n == 0:
                raise OSError(f"object {key} ended early ({at} of {size} bytes)")
            moved = 0
            while moved < n:
                moved += os.splice(pipe[0], fd, n - moved, offset_dst=at + moved, flags=os.SPLICE_F_MOVE)
            at += n
    except BaseException:
        # bytes may be left in the pipe: never reuse it
        _pipes.pipe = None
        for end_fd in pipe:
            os.close(end_fd)
        raise
    return True


def _receive(body: Any, view: memoryview, key: str, start: int, size: int) -> None:
    """Fill ``view`` from a GET's streaming body; an ``OSError`` if it ends early.

    The socket is read straight into ``view`` (``readinto`` of the HTTP response under
    botocore's stream) unless the body is content-encoded or that layer is not there,
    in which case blocks are read and copied in.
    """
    raw = getattr(body, "_raw_stream", None)
    fp = getattr(raw, "_fp", None)
    encoded = raw is not None and getattr(raw, "headers", {}).get("content-encoding")
    readinto = getattr(fp, "readinto", None) if not encoded else None
    got, want = 0, len(view)
    while got < want:
        if readinto is not None:
            with view[got:] as rest:  # released even when the read fails, so the map can close
                n = readinto(rest)
        else:
            block = body.read(min(BLOCK_SIZE * 8, want - got))
            n = len(block)
            view[got:got + n] = block
        if not n:
            raise OSError(f"object {key} ended early ({start + got} of {size} bytes)")
        got += n


_buffers = threading.local()


def _part_buffer(length: int) -> bytearray:
    """A buffer of ``length`` bytes owned by this sender thread, reused part after part:
    a fresh one would be zero-filled and faulted in page by page for every part. A part
    is sent (and retried) within its ``upload_part`` call, so the next part of this
    thread may overwrite it."""
    buf = getattr(_buffers, "buf", None)
    if buf is not None and len(buf) == length:
        return buf
    fresh = bytearray(length)
    if buf is None or length > len(buf):  # the part size (a file's last part is shorter)
        _buffers.buf = fresh
    return fresh


_crc32_fn: Callable[[Any], int] | None = None


def _crc32() -> Callable[[Any], int]:
    """CRC32 of a part: ISA-L's (SIMD, several GB/s) when ``isal`` is installed (the s3
    extra installs it), else zlib's, which at a few hundred MB/s would cost more CPU
    than sending the part."""
    global _crc32_fn
    if _crc32_fn is None:
        try:
            from isal.isal_zlib import crc32
        except ImportError:
            from zlib import crc32
        _crc32_fn = crc32
    return _crc32_fn


def _lookup(blobs: Any, path: str) -> Any:
    if not isinstance(blobs, dict):
        return blobs
    if path in blobs:
        return blobs[path]
    stripped = path.split("://", 1)[-1]
    for key, value in blobs.items():
        if key.split("://", 1)[-1].rstrip("/") == stripped:
            return value
    return None


def _atomic_local_write(path: Path, data: bytes, *, sync: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
