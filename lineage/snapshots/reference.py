"""By-reference snapshots: data that stays where it lives (``s3://`` and other fsspec URLs).

A by-reference snapshot has the manifest a local snapshot of the same bytes has (each
file's path, size and BLAKE3 digest), so the same bytes give the same snapshot ID
wherever they live; the bytes themselves are never copied into the store. Where they
live is a ``snapshot.reference`` event, appended in the snapshot's transaction:
``{snapshot_id, url, dataset, files: [{path, etag, version_id}]}``
(``schemas/reference-event.schema.json``), projected into ``snapshot_references`` and
``reference_files``. The ``snapshot`` event says ``stored: false``, so push, fetch and
gc never look for the bytes; its derived objects (fingerprints, profiles) are stored
and pushed as usual.

The files are read with the settings of the configured remote whose URL covers the
same bucket (endpoint, profile, region, timeouts), else with the AWS chain and the
endpoint of the environment (``AWS_ENDPOINT_URL``); credentials are never recorded.
The hashing (here or on an engine's workers) and the recording are
``lineage.tabular.reference``'s.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lineage.core.paths import check_relative
from lineage.core.redact import redact_cheaply
from lineage.errors import PathError, RemoteError, UsageError
from lineage.log import Graph
from lineage.log.events import Event
from lineage.log.registry import projector
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.store.backends import describe_error, filesystem, scheme_of

EVENT_TYPE = "snapshot.reference"

#: Settings of a remote that also apply to reading a by-reference source (never credentials).
SOURCE_OPTIONS = ("endpoint_url", "profile", "region", "connect_timeout", "read_timeout", "retries")


def is_url(path: str) -> bool:
    """Does ``path`` name data on a remote filesystem (``s3://...``), not a local path?"""
    return scheme_of(path) != "file"


# -- where the bytes are, and how to read them ------------------------------------------

@dataclass(frozen=True)
class Source:
    """A by-reference URL and the settings it is read with (a ``RemoteSpec``)."""

    name: str  # the remote whose settings apply, or "source"
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return scheme_of(self.url)


def normalize_url(url: str) -> str:
    """``scheme://bucket/prefix`` without a trailing slash; credentials and queries refused."""
    url = url.strip()
    parts = urlsplit(url)
    if "@" in parts.netloc or parts.username or parts.password:
        raise UsageError("refusing a URL with embedded credentials; give credentials through the "
                         "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or an AWS profile")
    if parts.query or parts.fragment:
        raise UsageError(f"a snapshot URL must not carry a query or fragment: "
                         f"{parts.scheme}://{parts.netloc}{parts.path}")
    if not parts.netloc:
        raise UsageError(f"URL {redact_cheaply(url)!r} names no bucket or host")
    path = parts.path.rstrip("/")
    if any(p in (".", "..") for p in path.split("/")):
        raise UsageError(f"URL {url!r} must not contain '.' or '..' parts")
    return f"{parts.scheme.lower()}://{parts.netloc}{path}"


def _same_store(a: str, b: str) -> bool:
    sa, sb = scheme_of(a), scheme_of(b)
    s3 = ("s3", "s3a")
    return (sa == sb or (sa in s3 and sb in s3)) and urlsplit(a).netloc == urlsplit(b).netloc


def source_for(repo: Repo, url: str) -> Source:
    """The source for ``url``: with the settings of the remote whose URL covers it (the
    longest such prefix; else one on the same bucket), else of the environment."""
    url = normalize_url(url)
    table = repo.config.get("remotes", {})
    best: tuple[int, str, dict[str, Any]] | None = None
    for name, entry in sorted(table.items() if isinstance(table, dict) else []):
        rurl = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(rurl, str) or not _same_store(rurl, url):
            continue
        tail = url.split("://", 1)[1]
        rtail = rurl.split("://", 1)[1].rstrip("/")
        score = len(rtail) + 1 if tail == rtail or tail.startswith(rtail + "/") else 0
        if best is None or score > best[0]:
            best = (score, name, entry)
    if best is None:
        return Source("source", url)
    return Source(best[1], url, {k: v for k, v in best[2].items() if k in SOURCE_OPTIONS})


@dataclass(frozen=True)
class Listed:
    """One file under a by-reference URL."""

    path: str  # relative to the URL (a single file: its name)
    key: str   # the path inside the filesystem
    size: int
    etag: str | None = None
    version_id: str | None = None


def open_source(source: Source) -> tuple[Any, str]:
    """The fsspec filesystem of ``source`` and the URL's path inside it."""
    return filesystem(source)


def describe(source: Source, exc: BaseException) -> Exception:
    """One credential-free line for a failure to read ``source``."""
    kind = type(exc).__name__
    if kind in ("NoCredentialsError", "PartialCredentialsError"):
        return RemoteError(f"no credentials to read {source.url}: set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, or an AWS profile")
    if isinstance(exc, FileNotFoundError):
        return PathError(f"no such bucket or prefix: {source.url}")
    if isinstance(exc, PermissionError):
        return RemoteError(f"access denied reading {source.url} (check the credentials and the bucket's policy)")
    error = describe_error(source, exc)
    if source.name == "source":
        error = RemoteError(str(error).replace("remote 'source' ", "", 1))
    return error


def tags(info: dict[str, Any]) -> tuple[str | None, str | None]:
    """The ETag and version ID an fsspec ``info`` gives (None where the store has none)."""
    etag = info.get("ETag") or info.get("etag")
    version = info.get("VersionId") or info.get("version_id") or info.get("generation")
    return (str(etag).strip('"') if etag else None), (str(version) if version and version != "null" else None)


def list_files(source: Source, fs: Any, root: str) -> tuple[str, list[Listed]]:
    """The kind (``file`` or ``folder``) and the files under ``source.url``, by path."""
    try:
        found = fs.find(root, detail=True)
    except Exception as exc:  # the backends' errors are many; each becomes one line
        raise describe(source, exc) from None
    files = {k.rstrip("/"): v for k, v in found.items() if v.get("type", "file") == "file"}
    if not files:
        raise PathError(f"no files under {source.url} (an empty or missing prefix)")
    if list(files) == [root]:
        etag, version = tags(files[root])
        return "file", [Listed(root.rsplit("/", 1)[-1], root, int(files[root].get("size") or 0), etag, version)]
    out: list[Listed] = []
    for key, info in sorted(files.items()):
        if not key.startswith(root + "/"):
            continue
        rel = key[len(root) + 1:]
        if not rel or rel.endswith("/"):
            continue  # a folder marker some stores list as a key of its own
        check_relative(rel, what=f"key under {source.url}")  # a key with '..' parts never enters a manifest
        etag, version = tags(info)
        out.append(Listed(rel, key, int(info.get("size") or 0), etag, version))
    if not out:
        raise PathError(f"no files under {source.url} (an empty or missing prefix)")
    return "folder", out


# -- the record --------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """Where a snapshot's bytes live, as one ``snapshot.reference`` event recorded it."""

    event_id: str
    snapshot_id: str
    url: str
    dataset: str | None
    files: int
    versioned: bool  # every file has a version ID
    time: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reference:
        return cls(d["event_id"], d["snapshot_id"], d["url"], d.get("dataset"), int(d["files"]),
                   bool(d["versioned"]), d["time"])


@projector(EVENT_TYPE)
def _reference(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    files = b.get("files") or []
    conn.execute(
        "INSERT OR IGNORE INTO snapshot_references (event_id, snapshot_id, url, dataset, files, versioned, time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ev.id, b["snapshot_id"], b["url"], b.get("dataset"), len(files),
         int(bool(files) and all(f.get("version_id") for f in files)), ev.time),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO reference_files (event_id, path, etag, version_id) VALUES (?, ?, ?, ?)",
        ((ev.id, f["path"], f.get("etag"), f.get("version_id")) for f in files),
    )


_COLUMNS = "event_id, snapshot_id, url, dataset, files, versioned, time"


def latest(g: Graph, sid: str) -> Reference | None:
    """The latest reference recorded for snapshot ``sid``, or None (not by reference)."""
    row = g.conn.execute(f"SELECT {_COLUMNS} FROM snapshot_references WHERE snapshot_id = ? "
                         "ORDER BY time DESC, event_id DESC LIMIT 1", (sid,)).fetchone()
    return Reference(*row[:5], bool(row[5]), row[6]) if row else None


def every_latest(g: Graph) -> list[Reference]:
    """The latest reference of each (snapshot, URL) pair, by URL."""
    rows = g.conn.execute(
        f"SELECT {_COLUMNS} FROM snapshot_references r WHERE event_id = ("
        "  SELECT event_id FROM snapshot_references s WHERE s.snapshot_id = r.snapshot_id AND s.url = r.url "
        "  ORDER BY time DESC, event_id DESC LIMIT 1) ORDER BY url, snapshot_id").fetchall()
    return [Reference(*r[:5], bool(r[5]), r[6]) for r in rows]


def file_tags(g: Graph, event_id: str) -> dict[str, tuple[str | None, str | None]]:
    """``path -> (etag, version_id)`` of the files of one reference."""
    rows = g.conn.execute("SELECT path, etag, version_id FROM reference_files WHERE event_id = ?", (event_id,))
    return {p: (e, v) for p, e, v in rows}


def where(ref: Reference) -> str:
    """``s3://... (N files, version IDs recorded)``: where a snapshot's bytes live."""
    versions = "version IDs recorded" if ref.versioned else "no version IDs recorded"
    return f"{ref.url} ({ref.files} file{'s' if ref.files != 1 else ''}, {versions})"


def refuse_checkout(repo: Repo, sid: str) -> None:
    """A snapshot whose bytes are only referenced cannot be written out: say where they live."""
    if queries.snapshot_stored(repo.graph, sid):
        return
    ref = latest(repo.graph, sid)
    if ref is not None:
        raise UsageError(f"snapshot {sid[:12]} is recorded by reference: its bytes live at {where(ref)}; "
                         "nothing was written")


def same_reference(g: Graph, sid: str, url: str, files: list[dict[str, Any]]) -> bool:
    """Is the latest reference of ``sid`` at ``url`` the one ``files`` describe?"""
    row = g.conn.execute("SELECT event_id FROM snapshot_references WHERE snapshot_id = ? AND url = ? "
                         "ORDER BY time DESC, event_id DESC LIMIT 1", (sid, url)).fetchone()
    if row is None:
        return False
    have = file_tags(g, row[0])
    return have == {f["path"]: (f.get("etag"), f.get("version_id")) for f in files}
