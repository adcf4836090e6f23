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
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import blake3

from lineage.core import faults as _faults
from lineage.core.hashing import BLOCK_SIZE
from lineage.errors import CorruptObjectError, LineageError, RemoteError
from lineage.store.backends import RemoteSpec, describe_error, filesystem
from lineage.store.packs import PackIndex

FORMAT = "lineage.remote/1"
MARKER = "lineage-remote.json"
_IDX_NAME = re.compile(r"([0-9a-f]{64})\.idx$")
_PACK_NAME = re.compile(r"([0-9a-f]{64})\.pack$")
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

    def put_file(self, digest: str, src: str, *, part_concurrency: int | None = None) -> None:
        """Upload one large object from a local file.

        ``part_concurrency`` bounds the parts of one multipart upload in flight; when
        several files upload at once, fewer parts each keeps the server's queue short.
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
        elif part_concurrency and self.remote.scheme in ("s3", "s3a"):
            self.call(self.fs.put_file, src, dest, max_concurrency=part_concurrency)
        else:
            self.call(self.fs.put_file, src, dest)

    # -- reading ----------------------------------------------------------------
    def read_range(self, kind: str, pack_id: str, start: int, end: int) -> bytes:
        return self.call(self.fs.cat_file, self.pack_path(kind, pack_id, "pack"), start=start, end=end)

    def read_pack(self, kind: str, pack_id: str) -> bytes:
        return self.call(self.fs.cat_file, self.pack_path(kind, pack_id, "pack"))

    def get_file(self, digest: str, dest: Path, *, part_concurrency: int | None = None) -> str:
        """Download one loose object to ``dest``; returns the digest of what arrived."""
        hasher = blake3.blake3()
        src = self.object_path(digest)
        if self.local:
            self.requests += 1
            with open(src, "rb") as s, open(dest, "wb") as d:
                for block in iter(lambda: s.read(BLOCK_SIZE), b""):
                    hasher.update(block)
                    d.write(block)
            return hasher.hexdigest()
        if part_concurrency and self.remote.scheme in ("s3", "s3a"):
            self.call(self.fs.get_file, src, str(dest), max_concurrency=part_concurrency)
        else:
            self.call(self.fs.get_file, src, str(dest))
        if os.path.getsize(dest) >= (16 << 20):
            # the download is a private temporary file: mapped and hashed on every core
            return blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(str(dest)).hexdigest()
        with open(dest, "rb") as fh:
            for block in iter(lambda: fh.read(BLOCK_SIZE), b""):
                hasher.update(block)
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
