"""References: from what a user types to a snapshot ID, and from an ID to its manifest.

A reference is a full ID, a unique prefix (4+ hex digits), ``NAME``, ``NAME@N``,
``NAME@latest``, a tracked path, or ``SCHEME:VALUE`` for a scheme another feature
registers (``md5:<hash>`` by ``lineage.interop.dvc``, for imported DVC outputs)::

    @refs.register_scheme("md5")
    def resolve_md5(repo, value) -> str: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lineage.errors import AmbiguousRefError, IntegrityError, MissingObjectError, NoMatchError, UnknownRefError, UsageError
from lineage.log import registry as _features
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.snapshots.manifest import Entry, Manifest

_REF = re.compile(r"^(?P<name>.+?)@(?P<ver>\d+|latest)$")

#: ``(repo, value) -> snapshot ID`` for a ``SCHEME:VALUE`` reference.
SchemeResolver = Callable[[Repo, str], str]
_SCHEMES: dict[str, SchemeResolver] = {}


def register_scheme(name: str) -> Callable[[SchemeResolver], SchemeResolver]:
    """Resolve ``NAME:VALUE`` references with the decorated function."""
    def register(fn: SchemeResolver) -> SchemeResolver:
        _SCHEMES[name] = fn
        return fn

    return register


def schemes() -> list[str]:
    _features.load()
    return sorted(_SCHEMES)


def _scheme(name: str) -> SchemeResolver | None:
    if name not in _SCHEMES:
        _features.load()  # the feature modules register their schemes when imported
    return _SCHEMES.get(name)


def resolve(repo: Repo, ref: str) -> str:
    """Snapshot ID for a full ID, a unique prefix, ``NAME``, ``NAME@N`` or ``NAME@latest``."""
    g = repo.graph
    ref = ref.strip()
    if not ref:
        raise UsageError("empty snapshot reference")
    scheme, sep, value = ref.partition(":")
    if sep:
        by_scheme = _scheme(scheme)
        if by_scheme is not None:
            return by_scheme(repo, value)
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
    raise NoMatchError(f"no snapshot or dataset matches {ref!r}")


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

