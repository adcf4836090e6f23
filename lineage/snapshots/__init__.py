"""Snapshots: create, resolve, status, log, show, diff and checkout.

``create`` walks a file or folder, hashes what the stat cache cannot vouch for,
stores new objects in one batch, stores the manifest, and records one ``snapshot``
event. Nothing is recorded until every object is safely in place, so an
interrupted snapshot leaves neither a half-written object nor a half-recorded
snapshot.
"""

from __future__ import annotations

import os
import re
import stat as _stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import blake3

from lineage.core import faults as _faults
from lineage import config as _config
from lineage.errors import (
    AmbiguousRefError,
    ConflictError,
    IntegrityError,
    MissingObjectError,
    PathError,
    UnknownRefError,
    UnsafePathError,
    UsageError,
)
from lineage.snapshots import queries
from lineage.core.hashing import SMALL_FILE, FileStat, HashCounter, hash_file
from lineage.snapshots.manifest import Entry, Manifest
from lineage.core.redact import redact_text as _redact_text
from lineage.repo import DIRNAME, Repo
from lineage.core.paths import (check_inside, check_parent, check_relative, checked_destination,
                               display, is_protected, is_temp_name, under_git)

Progress = Callable[[int, int], None]

#: Folder names never included in a snapshot.
SKIP_DIRS = frozenset({DIRNAME, ".git", ".hg", ".svn", "__pycache__"})
_REF = re.compile(r"^(?P<name>.+?)@(?P<ver>\d+|latest)$")

#: ``SCHEME:VALUE`` references that other modules resolve, as "module:function" taking
#: (repo, value) and returning a snapshot ID; imported only when such a reference is used.
REF_SCHEMES: dict[str, str] = {"md5": "lineage.interop.dvc:resolve_md5"}


# -- walking ----------------------------------------------------------------------

class FoundFile(NamedTuple):
    rel: str        # path inside the snapshot
    abspath: str
    stat: FileStat  # (dev, ino, size, mtime_ns): a FileStat or a plain tuple
    executable: bool

    @property
    def size(self) -> int:
        return self.stat[2]


@dataclass
class ScanReport:
    """What ``scan`` saw besides the files it returns.

    ``boundary`` (the repository root, resolved) enables the check for symbolic
    links that lead outside it.
    """

    boundary: Path | None = None
    dirs: list[str] = field(default_factory=list)      # empty folders (rel)
    skipped: list[str] = field(default_factory=list)   # "rel (why)": special files, dangling links
    outside: list[str] = field(default_factory=list)   # "rel -> target": links followed out
    temps: list[str] = field(default_factory=list)     # abspaths of checkout temporary files

    def warnings(self) -> list[str]:
        out = []
        if self.outside:
            out.append(f"followed {len(self.outside)} symbolic link(s) leading outside the repository: "
                       + _some(self.outside))
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} special file(s) or dangling link(s): "
                       + _some(self.skipped))
        return out


def _some(items: list[str], n: int = 5) -> str:
    shown = ", ".join(display(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _kind_of(mode: int) -> str:
    if _stat.S_ISFIFO(mode):
        return "FIFO"
    if _stat.S_ISSOCK(mode):
        return "socket"
    if _stat.S_ISCHR(mode) or _stat.S_ISBLK(mode):
        return "device"
    return "special file"


def scan(path: Path, report: ScanReport | None = None) -> tuple[str, list[FoundFile]]:
    """List the files of ``path`` (a file or a folder), following symlinks to files.

    With a ``report``, also collect empty folders, skipped special files and dangling
    links, links leading outside ``report.boundary`` and leftover checkout temporary
    files (never listed as data).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise PathError(f"no such file or folder: {display(path)}") from None
    except OSError as exc:
        raise PathError(f"cannot read {display(path)}: {exc.strerror}") from None
    if _stat.S_ISREG(st.st_mode):
        return "file", [FoundFile(path.name, str(path), tuple(FileStat.of(st)), bool(st.st_mode & 0o111))]
    if not _stat.S_ISDIR(st.st_mode):
        raise PathError(f"not a regular file or folder: {display(path)}")
    found: list[FoundFile] = []
    rep = report if report is not None else ScanReport()
    inside: tuple[str, ...] = ()
    if rep.boundary is not None:  # a link may lead anywhere inside the repository or the dataset
        inside = (str(rep.boundary), os.path.realpath(path))
    stack = [(str(path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise PathError(f"cannot read folder {display(folder)}: {exc.strerror}") from None
        before, depth = len(found), len(stack)
        for de in entries:
            name = de.name
            rel = prefix + name
            if name[0] == "." and (is_temp_name(name) or is_protected(name)):
                if is_temp_name(name):
                    rep.temps.append(de.path)
                continue  # checkout's own temporary files, and .git/.lineage in any case
            try:
                if de.is_dir():
                    if name not in SKIP_DIRS:
                        if inside and de.is_symlink():
                            _check_link(de.path, rel, inside, rep)
                        stack.append((de.path, rel + "/"))
                    continue
                est = de.stat()
            except FileNotFoundError:
                if de.is_symlink():
                    rep.skipped.append(f"{rel} (dangling link)")
                    continue  # a dangling symlink holds no content
                raise PathError(f"file vanished while scanning: {display(de.path)}") from None
            except OSError as exc:
                raise PathError(f"cannot read {display(de.path)}: {exc.strerror}") from None
            if est.st_mode & 0o170000 == 0o100000:  # S_ISREG, inlined: this loop runs per file
                if inside and de.is_symlink():
                    _check_link(de.path, rel, inside, rep)
                # a plain tuple compares equal to a FileStat and builds faster
                found.append(FoundFile(rel, de.path, (est.st_dev, est.st_ino, est.st_size,
                                                      est.st_mtime_ns), bool(est.st_mode & 0o111)))
            else:
                rep.skipped.append(f"{rel} ({_kind_of(est.st_mode)})")
        if prefix and len(found) == before and len(stack) == depth:
            rep.dirs.append(prefix[:-1])  # nothing recorded below it: an empty folder
    return "folder", found


def _check_link(abspath: str, rel: str, inside: tuple[str, ...], rep: ScanReport) -> None:
    real = os.path.realpath(abspath)
    if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in inside):
        rep.outside.append(f"{rel} -> {real}")


def _check_names(kind: str, rel: str, files: list[FoundFile], dirs: list[str]) -> None:
    """Refuse names that are not valid UTF-8: manifests record UTF-8 text, so every
    clone can write the same names (one encode of all names: this runs per snapshot)."""
    names = [rel, *(f.rel for f in files), *dirs]
    try:
        "\n".join(names).encode("utf-8")
    except UnicodeEncodeError:
        bad = next(n for n in names if not _encodes(n))
        raise PathError(f"file name is not valid UTF-8: {display(bad)} (rename it to snapshot "
                        "this folder)") from None


def _encodes(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def stat_key(files: list[FoundFile]) -> str:
    """One digest of every (path, device, inode, size, mtime, executable) in a scan.

    When it equals the key recorded for a snapshot of the same root, no file can have
    changed (by the stat cache's own standard), so status and re-snapshot answer
    without loading the cache or the manifest.
    """
    import marshal

    # in walk order, not sorted: an unchanged folder lists the same way every time, and a
    # changed one would not match anyway (sorting 20,000 paths costs more than the walk)
    rows = [(f[0], f[2], f[3]) for f in files]  # (rel, stat, executable)
    return blake3.blake3(marshal.dumps(rows)).hexdigest()


def _tree_key(files: list[FoundFile], report: ScanReport) -> str:
    """``stat_key`` plus the empty folders, when there are any."""
    key = stat_key(files)
    return key if not report.dirs else key + "/dirs:" + blake3.blake3(
        "\n".join(sorted(report.dirs)).encode("utf-8", "surrogateescape")).hexdigest()


_NOT_STORED = "/digests-only"


def _tree_matches(repo: Repo, target: Path, key: str, sid: str, *, need_stored: bool) -> bool:
    """Does the recorded tree state say ``target`` is exactly snapshot ``sid``?

    ``need_stored`` also requires that the bytes were stored when it was recorded
    (not a --no-store snapshot, nor a status check).
    """
    known = repo.stat_cache.tree(str(target))
    if known is None or known[1] != sid:
        return False
    return known[0] == key or (not need_stored and known[0] == key + _NOT_STORED)


# -- results ----------------------------------------------------------------------

@dataclass(frozen=True)
class SnapshotResult:
    id: str
    dataset: str | None
    version: int | None
    path: str
    kind: str
    files: int
    bytes: int
    hashed_files: int
    new_objects: int
    unchanged: bool
    stored: bool
    time: str | None
    git: dict[str, Any]
    event_id: str | None = None
    #: files that could not be fingerprinted, and other remarks (the CLI prints them on stderr)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- create -----------------------------------------------------------------------

def _digests(
    repo: Repo,
    files: list[FoundFile],
    *,
    store: bool,
    progress: Progress | None,
    counter: HashCounter | None,
) -> tuple[dict[str, str], int, list[tuple[str, FileStat, str]]]:
    """Digest of every file (stat cache first), storing new objects in one batch.

    Small files are read once, hashed and appended to the batch's pack in this
    thread: for files of a few KB the work is per-call overhead that threads only
    add to. Large files are hashed in parallel (BLAKE3 and reads release the GIL)
    and copied in the kernel.
    """
    cache = repo.stat_cache
    known: dict[str, tuple[FileStat, str]] = {}
    if files:
        root = os.path.commonpath([f.abspath for f in files]) if len(files) > 1 else files[0].abspath
        known = cache.load(root)
    digests: dict[str, str] = {}
    misses: list[FoundFile] = []
    for f in files:
        hit = known.get(f.abspath)
        if hit is not None and hit[0] == f.stat:
            digests[f.abspath] = hit[1]
        else:
            misses.append(f)
    link = repo.link_mode
    total = sum(f.size for f in files)
    done = total - sum(f.size for f in misses)
    updates: list[tuple[str, FileStat, str]] = []
    ostore = repo.store
    small = [f for f in misses if f.size <= SMALL_FILE]
    large = [f for f in misses if f.size > SMALL_FILE]
    if progress and total:
        progress(done, total)

    with ostore.batch() as batch:
        # cache hits whose object is missing (e.g. after --no-store) still need storing
        if store:
            for f in files:
                d = digests.get(f.abspath)
                if d is not None and not ostore.exists(d):
                    batch.put_file(f.abspath, d, link)

        for i, f in enumerate(small):
            try:
                with open(f.abspath, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                raise PathError(f"file vanished while hashing: {f.abspath}") from None
            except OSError as exc:
                raise PathError(f"cannot read {f.abspath}: {exc.strerror}") from None
            digest = blake3.blake3(data).hexdigest()
            if store:
                batch.put_bytes(data, digest)
            digests[f.abspath] = digest
            updates.append((f.abspath, f.stat, digest))
            done += f.size
            if progress and i % 256 == 0:
                progress(done, total)

        def one(f: FoundFile) -> tuple[FoundFile, str]:
            digest = hash_file(f.abspath, f.size)
            if store:
                batch.put_file(f.abspath, digest, link)
            return f, digest

        if large:
            workers = min(4, os.cpu_count() or 1, len(large))
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as pool:
                for f, digest in pool.map(one, large):
                    digests[f.abspath] = digest
                    updates.append((f.abspath, f.stat, digest))
                    done += f.size
                    if progress:
                        progress(done, total)
        if progress and total:
            progress(total, total)
    if counter is not None:
        counter.files += len(misses)
        counter.bytes += sum(f.size for f in misses)
    return digests, batch.written, updates


def _declared_columns(repo: Repo, name: str, given: dict[str, str | None]) -> dict[str, str]:
    """Columns given now, else from ``[tool.lineage.datasets.NAME]`` in pyproject.toml."""
    out: dict[str, str] = {}
    settings = _config.pyproject_settings(repo.root).get("datasets", {}).get(name, {})
    for key in ("label", "group", "time", "text"):
        value = given.get(key) or settings.get(key) or settings.get(f"{key}_column") or settings.get(
            f"{key}-column")
        if value:
            out[key] = str(value)
    return out


def dataset_for_path(repo: Repo, rel: str) -> str | None:
    row = queries.dataset_by_path(repo.graph, rel)
    return row.name if row else None


def default_name(repo: Repo, rel: str) -> str:
    return repo.root.name if rel == "." else rel


def create(
    repo: Repo,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    message: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    time_column: str | None = None,
    text_column: str | None = None,
    store: bool = True,
    progress: Progress | None = None,
    counter: HashCounter | None = None,
    extra: dict[str, Any] | None = None,
) -> SnapshotResult:
    """Snapshot a file or folder and record it.

    Re-snapshotting unchanged content of a dataset records nothing new and returns
    ``unchanged=True``.

    >>> lineage.snapshot("data/train", name="train")      # doctest: +SKIP
    """
    target = Path(os.path.abspath(path))
    rel = repo.relpath(target)
    inside = Path(rel).parts if not Path(rel).is_absolute() else ()
    if any(is_protected(part) for part in inside):
        raise UsageError(f"refusing to snapshot {rel}: .git/ and .lineage/ hold the tools' own "
                         "state, never data (a pull would not write it back)")
    if name is not None and (not name.strip() or "@" in name):
        raise UsageError(f"invalid dataset name {name!r} (it must be non-empty and contain no '@')")
    with repo.store.writing():  # gc waits until the new objects are recorded
        return _create(repo, target, rel, name=name, message=message, label_column=label_column,
                       group_column=group_column, time_column=time_column, text_column=text_column,
                       store=store, progress=progress, counter=counter, extra=extra)


def _create(repo: Repo, target: Path, rel: str, *, name: str | None, message: str | None,
            label_column: str | None, group_column: str | None, time_column: str | None,
            text_column: str | None, store: bool, progress: Progress | None,
            counter: HashCounter | None, extra: dict[str, Any] | None) -> SnapshotResult:
    report = ScanReport(boundary=repo.root.resolve())
    kind, files = scan(target, report)
    _check_names(kind, rel, files, report.dirs)
    _remove_stale_temps(repo, report.temps, blocking=False)
    key = _tree_key(files, report)
    graph = repo.graph
    dataset = name or dataset_for_path(repo, rel) or default_name(repo, rel)
    columns = _declared_columns(repo, dataset, {"label": label_column, "group": group_column,
                                                "time": time_column, "text": text_column})
    row = queries.dataset(graph, dataset)
    current_decl = row.declarations if row else {}
    new_decl = {k: v for k, v in columns.items() if current_decl.get(k) != v}
    if (row and row.path == rel and not new_decl and not extra and row.latest_snapshot
            and _tree_matches(repo, target, key, row.latest_snapshot, need_stored=store)):
        return SnapshotResult(row.latest_snapshot, dataset, row.latest_version, rel, kind,
                              len(files), sum(f.size for f in files), 0, 0, True, store,
                              None, repo.git_state().to_dict(), warnings=report.warnings())
    digests, new_objects, updates = _digests(repo, files, store=store, progress=progress,
                                             counter=counter)
    manifest = Manifest.build(
        kind, [Entry(f.rel, f.size, digests[f.abspath], f.executable) for f in files], report.dirs
    )
    encoded = manifest.encode()
    sid = blake3.blake3(encoded).hexdigest()
    repo.store.put_bytes(encoded, sid)  # manifests are always kept, even with --no-store
    repo.stat_cache.update(updates)
    repo.stat_cache.set_tree(str(target), key if store else key + _NOT_STORED, sid)
    git = repo.git_state()
    # -- tabular metadata (lineage.tabular): schema, profiles, row fingerprints of the
    # tabular files not yet processed; their events are appended with the snapshot's.
    from lineage.tabular import compute as _tabular
    from lineage.tabular.readers import detect as _is_table

    in_repo = (lambda f: rel) if kind == "file" else (lambda f: f.rel if rel == "." else f"{rel}/{f.rel}")
    tabular = _tabular.process(repo, [(in_repo(f), f.abspath, digests[f.abspath])
                                      for f in files if _is_table(f.rel)],
                               {**current_decl, **columns}, progress=progress)
    tabular.warnings[:0] = report.warnings()  # links followed out, special files skipped
    # ----------------------------------------------------------------------------------
    if row and row.latest_snapshot == sid and not new_decl and row.path == rel and not extra:
        with graph.transaction():
            for tab_body in tabular.events:
                graph.append("tabular.file", tab_body, actor=repo.user)
        return SnapshotResult(sid, dataset, row.latest_version, rel, kind, len(files),
                              manifest.total_size, len(updates), new_objects, True, store, None,
                              git.to_dict(), warnings=tabular.warnings)
    _faults.point("snapshot.before_event")  # objects and manifest stored, nothing recorded
    with graph.transaction():
        # Decided again under the write lock: a concurrent snapshot of the same folder may
        # have recorded this content since we looked, and it must not become a second version.
        fresh = queries.dataset(graph, dataset)
        if fresh != row:
            from lineage.tabular import queries as _gtab

            row = fresh
            current_decl = row.declarations if row else {}
            new_decl = {k: v for k, v in columns.items() if current_decl.get(k) != v}
            tabular.events[:] = [b for b in tabular.events if _gtab.record(
                graph, b["digest"], int(b["scheme"]), b.get("declarations") or {}) is None]
            if row and row.latest_snapshot == sid and not new_decl and row.path == rel and not extra:
                for tab_body in tabular.events:
                    graph.append("tabular.file", tab_body, actor=repo.user)
                return SnapshotResult(sid, dataset, row.latest_version, rel, kind, len(files),
                                      manifest.total_size, len(updates), new_objects, True, store,
                                      None, git.to_dict(), warnings=tabular.warnings)
        known = queries.snapshot_known(graph, sid)
        body: dict[str, Any] = {
            # free text, so credentials in it are masked like a command line's (lineage.core.redact)
            "snapshot_id": sid, "dataset": dataset, "path": rel, "message": _redact_text(message),
            "user": repo.user, "host": repo.host, "git": git.to_dict(), "stored": store,
        }
        if not known:
            body["manifest"] = manifest.to_dict()
        if extra:
            body.update(extra)
        if new_decl:
            graph.append("dataset.declare", {"name": dataset, "path": rel, "columns": new_decl},
                         actor=repo.user)
        for tab_body in tabular.events:  # tabular metadata (see above)
            graph.append("tabular.file", tab_body, actor=repo.user)
        ev = graph.append("snapshot", body, actor=repo.user)
    version = queries.version_of_record(graph, ev.id)
    return SnapshotResult(sid, dataset, version, rel, kind, len(files), manifest.total_size,
                          len(updates), new_objects, False, store, ev.time, git.to_dict(), ev.id,
                          warnings=tabular.warnings)


# -- resolving references ---------------------------------------------------------

def resolve(repo: Repo, ref: str) -> str:
    """Snapshot ID for a full ID, a unique prefix, ``NAME``, ``NAME@N`` or ``NAME@latest``."""
    g = repo.graph
    ref = ref.strip()
    if not ref:
        raise UsageError("empty snapshot reference")
    scheme, sep, value = ref.partition(":")
    if sep and scheme in REF_SCHEMES:
        import importlib

        module, _, func = REF_SCHEMES[scheme].partition(":")
        return getattr(importlib.import_module(module), func)(repo, value)
    m = _REF.match(ref)
    if m:
        name, ver = m.group("name"), m.group("ver")
        ds = queries.dataset(g, name)
        if ds is None:
            raise UnknownRefError(f"no dataset named {name!r}")
        sid = ds.latest_snapshot if ver == "latest" else queries.snapshot_at_version(g, name, int(ver))
        if sid is None:
            raise UnknownRefError(f"dataset {name!r} has no version {ver}")
        return sid
    ds = queries.dataset(g, ref)
    if ds is not None and ds.latest_snapshot:
        return ds.latest_snapshot
    if re.fullmatch(r"[0-9a-f]{4,64}", ref):
        matches = queries.snapshots_with_prefix(g, ref)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousRefError(f"prefix {ref!r} matches several snapshots; give more characters")
    ds = queries.dataset_by_path(g, repo.relpath(ref))  # a tracked path
    if ds is not None and ds.latest_snapshot:
        return ds.latest_snapshot
    raise UnknownRefError(f"no snapshot or dataset matches {ref!r}")


def load_manifest(repo: Repo, sid: str, *, check_paths: bool = True) -> Manifest:
    """The manifest of snapshot ``sid``: from the store (verified), else from the graph.

    ``check_paths=False`` skips path validation for callers that only compare
    entries and never write files (status).
    """
    if repo.store.exists(sid):
        return Manifest.decode(repo.store.read_bytes(sid), check_paths=check_paths)
    kind, rows = queries.snapshot_files(repo.graph, sid)
    if kind is None or not rows:
        raise MissingObjectError(f"manifest of snapshot {sid[:12]} is not available locally; run 'lineage pull'")
    manifest = Manifest.build(kind, [Entry(*r) for r in rows])
    if manifest.id != sid:  # empty folders are only in the manifest the log carries
        raw = queries.manifest_in_log(repo.graph, sid)
        if raw is not None:
            manifest = Manifest.from_dict(raw, check_paths=check_paths)
    if manifest.id != sid:
        raise IntegrityError(f"recorded files of snapshot {sid[:12]} do not match its ID")
    return manifest


# -- status -----------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetStatus:
    dataset: str
    path: str
    snapshot: str | None
    version: int
    state: str  # clean | changed | missing | untracked
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_one(repo: Repo, name: str, rel: str, sid: str | None, version: int) -> DatasetStatus:
    target = repo.abspath(rel)
    if not os.path.exists(target):
        return DatasetStatus(name, rel, sid, version, "missing")
    report = ScanReport()
    kind, files = scan(target, report)
    if sid is None:
        return DatasetStatus(name, rel, None, version, "untracked", added=sorted(f.rel for f in files))
    key = _tree_key(files, report)
    if _tree_matches(repo, target, key, sid, need_stored=False):
        return DatasetStatus(name, rel, sid, version, "clean")
    recorded = load_manifest(repo, sid, check_paths=False).by_path()
    cache = repo.stat_cache.load(str(target))
    unknown: list[FoundFile] = []
    current: dict[str, str] = {}
    for f in files:
        hit = cache.get(f.abspath)
        if hit is not None and hit[0] == f.stat:
            current[f.rel] = hit[1]
        elif f.rel in recorded and recorded[f.rel].size != f.size:
            current[f.rel] = ""  # size differs: changed, no need to hash
        else:
            unknown.append(f)
    if unknown:
        from lineage.core.hashing import hash_many

        hashed = hash_many([(f.abspath, f.size) for f in unknown])
        repo.stat_cache.update([(f.abspath, f.stat, hashed[f.abspath]) for f in unknown])
        for f in unknown:
            current[f.rel] = hashed[f.abspath]
    added = sorted(p for p in current if p not in recorded)
    removed = sorted(p for p in recorded if p not in current)
    modified = sorted(p for p, d in current.items() if p in recorded and recorded[p].digest != d)
    state = "changed" if (added or removed or modified) else "clean"
    if state == "clean":
        # remember the verified state; whether the bytes are stored is unknown here
        repo.stat_cache.set_tree(str(target), key + _NOT_STORED, sid)
    return DatasetStatus(name, rel, sid, version, state, added, removed, modified)


def status(repo: Repo, target: str | None = None) -> list[DatasetStatus]:
    """What changed since the last snapshot of each tracked dataset (or of one name/path)."""
    rows = queries.tracked_datasets(repo.graph)
    if target is not None:
        rel = repo.relpath(target)
        chosen = [r for r in rows if target in (r.name, r.path) or r.path == rel]
        if not chosen:
            if os.path.exists(target):
                return [_status_one(repo, default_name(repo, rel), rel, None, 0)]
            raise UnknownRefError(f"no tracked dataset or path matches {target!r}")
        rows = chosen
    return [_status_one(repo, r.name, r.path or "", r.latest_snapshot, r.latest_version) for r in rows]


# -- log and show -----------------------------------------------------------------

@dataclass(frozen=True)
class LogEntry:
    dataset: str | None
    version: int | None
    snapshot: str
    time: str
    user: str | None
    host: str | None
    message: str | None
    path: str | None
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log(repo: Repo, name: str | None = None) -> list[LogEntry]:
    """History of one dataset (newest first), or of every snapshot recorded."""
    g = repo.graph
    if name is None:
        return [LogEntry(**r) for r in queries.records_all(g)]
    ds = queries.dataset(g, name) or queries.dataset_by_path(g, repo.relpath(name))
    if ds is None:
        raise UnknownRefError(f"no dataset named {name!r}")
    return [LogEntry(**r) for r in queries.records_of_dataset(g, ds.name)]


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    kind: str
    files: list[dict[str, Any]]
    file_count: int
    bytes: int
    records: list[LogEntry]
    stored: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records"] = [r.to_dict() for r in self.records]
        return d


def show(repo: Repo, ref: str) -> SnapshotInfo:
    """A snapshot's files, sizes, and every time it was recorded (who, when, which commit)."""
    sid = resolve(repo, ref)
    manifest = load_manifest(repo, sid)
    records = [LogEntry(**r) for r in queries.records_of_snapshot(repo.graph, sid)]
    stored = all(repo.store.exists(e.digest) for e in manifest.entries)
    return SnapshotInfo(sid, manifest.kind, [e.to_dict() for e in manifest.entries],
                        len(manifest.entries), manifest.total_size, records, stored)


# -- diff -------------------------------------------------------------------------

@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    modified: list[dict[str, Any]]
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff(repo: Repo, a: str, b: str) -> Diff:
    """Files added, removed and changed from snapshot ``a`` to snapshot ``b``."""
    ida, idb = resolve(repo, a), resolve(repo, b)
    ma, mb = load_manifest(repo, ida).by_path(), load_manifest(repo, idb).by_path()
    added = [mb[p].to_dict() for p in sorted(mb) if p not in ma]
    removed = [ma[p].to_dict() for p in sorted(ma) if p not in mb]
    modified = [
        {"path": p, "size_a": ma[p].size, "size_b": mb[p].size, "digest_a": ma[p].digest,
         "digest_b": mb[p].digest}
        for p in sorted(ma) if p in mb and (ma[p].digest, ma[p].executable) != (mb[p].digest, mb[p].executable)
    ]
    unchanged = len(ma) - len(removed) - len(modified)
    return Diff(ida, idb, added, removed, modified, unchanged)


# -- checkout ---------------------------------------------------------------------

@dataclass(frozen=True)
class CheckoutResult:
    id: str
    dest: str
    written: list[str]
    unchanged: int
    extra: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkout(repo: Repo, ref: str, dest: str | os.PathLike[str] | None = None, *,
             force: bool = False, paths: list[str] | None = None,
             progress: Progress | None = None) -> CheckoutResult:
    """Write a snapshot's files to ``dest`` (default: the path it was snapshotted from).

    A recorded path is written only inside the work tree (never into ``.git/`` or
    ``.lineage/``, nor through a symlink leading out); ``dest`` may be anywhere the
    user chooses. Files missing or different are written; a file whose content is in
    no recorded snapshot (a local edit) is a conflict unless ``force``; files the
    snapshot lacks are left alone and listed. Rerunning after an interruption
    finishes the work and removes the temporary files left behind.
    """
    sid = resolve(repo, ref)
    manifest = load_manifest(repo, sid)
    if paths:
        paths = [check_relative(p.strip("/"), what="--path") for p in paths]
    if dest is None:
        recorded = queries.last_recorded_path(repo.graph, sid)
        if recorded is None:
            raise UsageError(f"snapshot {sid[:12]} has no recorded path; give a destination")
        try:
            dest_path = checked_destination(repo, recorded, recorded=True)
        except UnsafePathError as exc:
            raise UnsafePathError(f"{exc}; give a destination to check snapshot {sid[:12]} out "
                                  "elsewhere") from None
    else:
        dest_path = checked_destination(repo, dest, recorded=False)
    entries = list(manifest.entries)
    dirs = list(manifest.dirs)
    if paths:
        wanted = set(paths)

        def chosen(p: str) -> bool:
            return p in wanted or any(p.startswith(w + "/") for w in wanted)

        entries = [e for e in entries if chosen(e.path)]
        dirs = [d for d in dirs if chosen(d)]
        if not entries and not dirs:
            raise UnknownRefError(f"none of {sorted(wanted)} is in snapshot {sid[:12]}")
    with _checkout_lock(repo):
        try:
            return _checkout(repo, sid, manifest, dest_path, entries, dirs, force=force,
                             partial=bool(paths), progress=progress)
        except OSError as exc:  # an unwritable destination: /proc, a read-only mount, ...
            where = exc.filename if exc.filename is not None else dest_path
            raise PathError(f"cannot write {display(where)}: {exc.strerror or exc}") from None


def _checkout(repo: Repo, sid: str, manifest: Manifest, dest_path: Path, entries: list[Entry],
              dirs: list[str], *, force: bool, partial: bool,
              progress: Progress | None) -> CheckoutResult:
    if manifest.kind == "file":
        if dest_path.is_dir():
            dest_path = dest_path / entries[0].path
        targets = [(entries[0], dest_path)]
    else:
        if dest_path.exists() and not dest_path.is_dir():
            raise ConflictError(f"{display(dest_path)} is a file; a folder snapshot needs a folder")
        targets = [(e, dest_path / e.path) for e in entries]
    root = dest_path if manifest.kind == "folder" else dest_path.parent
    root_resolved = root.resolve()
    # defence in depth: nothing written below a .git folder is ever executable (a hook)
    no_exec = under_git(root_resolved)
    seen: dict[Path, bool] = {}
    to_write: list[tuple[Entry, Path]] = []
    conflicts: list[str] = []
    unchanged = 0
    cache = repo.stat_cache
    for e, target in targets:
        if manifest.kind == "folder":
            check_parent(root_resolved, target, seen)
        try:
            lst = os.lstat(target)
            st = os.stat(target) if _stat.S_ISLNK(lst.st_mode) else lst
        except FileNotFoundError:
            to_write.append((e, target))
            continue
        if not _stat.S_ISREG(st.st_mode):
            conflicts.append(e.path)
            continue
        fs = FileStat.of(st)
        digest = cache.lookup(str(target), fs)
        if digest is None and (st.st_size == e.size or not force):
            digest = hash_file(target, st.st_size)
            cache.update([(str(target), fs, digest)])
        if digest == e.digest:
            want_exec = e.executable and not no_exec
            if bool(st.st_mode & 0o111) != want_exec and not _stat.S_ISLNK(lst.st_mode):
                os.chmod(target, 0o755 if want_exec else 0o644)
            unchanged += 1
            continue
        # overwriting loses nothing when the current content is kept in a recorded snapshot
        if not force and not _recoverable(repo, digest):
            conflicts.append(e.path)
        to_write.append((e, target))
    for d in dirs:
        check_inside(root_resolved, dest_path / d, seen)
        if os.path.lexists(dest_path / d) and not (dest_path / d).is_dir():
            conflicts.append(d)
    if conflicts:
        shown = ", ".join(display(c) for c in conflicts[:5]) + (
            f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise ConflictError(
            f"checkout would overwrite local changes in {len(conflicts)} file(s): {shown}; "
            "snapshot them first or pass --force"
        )
    missing = [e.path for e, _ in to_write if not repo.store.exists(e.digest)]
    if missing:
        raise MissingObjectError(
            f"{len(missing)} file(s) of snapshot {sid[:12]} are not in the local store "
            f"(e.g. {display(missing[0])}); run 'lineage pull {sid[:12]}'"
        )
    total = sum(e.size for e, _ in to_write)
    done = 0
    link = repo.link_mode
    updates = []
    if manifest.kind == "folder":
        dest_path.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        (dest_path / d).mkdir(parents=True, exist_ok=True)
    try:
        for e, target in to_write:
            _faults.point("checkout.write")
            repo.store.copy_to(e.digest, target, executable=e.executable and not no_exec, link=link)
            updates.append((str(target), FileStat.of(os.stat(target)), e.digest))
            done += e.size
            if progress:
                progress(done, total)
    finally:
        cache.update(updates)  # what was written is known even if a later write fails
    extra: list[str] = []
    if manifest.kind == "folder" and dest_path.is_dir():
        report = ScanReport()
        _, present = scan(dest_path, report)
        _unlink(report.temps)  # we hold the checkout lock: no other checkout is writing them
        if not partial:
            listed = {e.path for e in manifest.entries}
            extra = sorted(f.rel for f in present if f.rel not in listed)
    elif manifest.kind == "file":
        with os.scandir(dest_path.parent) as it:
            _unlink([de.path for de in it if is_temp_name(de.name)])
    return CheckoutResult(sid, str(dest_path), [e.path for e, _ in to_write], unchanged, extra)


def _recoverable(repo: Repo, digest: str | None) -> bool:
    """Is this content stored and part of a recorded snapshot (so it can be checked out again)?"""
    return digest is not None and repo.store.exists(digest) and bool(
        queries.files_with_digest(repo.graph, digest, limit=1))


@contextmanager
def _checkout_lock(repo: Repo, *, blocking: bool = True) -> Iterator[bool]:
    """One checkout at a time per repository, so a temporary file found by a checkout
    (or by a snapshot that got the lock) is always a leftover of a killed one."""
    import fcntl

    folder = repo.dir / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "checkout.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _remove_stale_temps(repo: Repo, temps: list[str], *, blocking: bool) -> None:
    if temps:
        with _checkout_lock(repo, blocking=blocking) as got:
            if got:
                _unlink(temps)


def _unlink(paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass
