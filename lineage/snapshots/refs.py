"""References: from what a user types to a snapshot ID, and from an ID to its manifest.

A reference is a full ID, a unique prefix (4+ hex digits), ``NAME``, ``NAME@N``,
``NAME@latest``, ``NAME@REV`` (a git revision: the snapshot ``lineage.lock`` pinned
at that commit, resolved by ``lineage.snapshots.lock``), a tracked path, or
``SCHEME:VALUE`` for a scheme another feature registers (``md5:<hash>`` by
``lineage.interop.dvc``, for imported DVC outputs)::

    @refs.register_scheme("md5")
    def resolve_md5(repo, value) -> str: ...

After ``@``, ``latest`` and 1 to 6 digits are a version (``wine@2``); anything else is
a git revision (``wine@v1``, ``wine@HEAD~2``, ``wine@3f2a1c``, ``wine@1234567``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lineage.errors import AmbiguousRefError, IntegrityError, MissingObjectError, NoMatchError, UnknownRefError, UsageError
from lineage.log import registry as _features
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.snapshots.manifest import Entry, Manifest

#: ``NAME@N`` (a version: 1 to 6 digits) or ``NAME@latest``; any other ``NAME@X`` may be a
#: git revision (``_REV_RESOLVERS``)
_REF = re.compile(r"^(?P<name>.+?)@(?P<ver>\d{1,6}|latest)$")

#: ``(repo, value) -> snapshot ID`` for a ``SCHEME:VALUE`` reference.
SchemeResolver = Callable[[Repo, str], str]
_SCHEMES: dict[str, SchemeResolver] = {}


def register_scheme(name: str) -> Callable[[SchemeResolver], SchemeResolver]:
    """Resolve ``NAME:VALUE`` references with the decorated function."""
    def register(fn: SchemeResolver) -> SchemeResolver:
        _SCHEMES[name] = fn
        return fn

    return register


#: ``(repo, name, rev) -> snapshot ID``, or None when ``rev`` is not a git revision
RevResolver = Callable[[Repo, str, str], "str | None"]
_REV_RESOLVERS: list[RevResolver] = []


def register_rev_resolver(fn: RevResolver) -> RevResolver:
    """Resolve ``NAME@REV`` (REV not a version number) with the decorated function."""
    _REV_RESOLVERS.append(fn)
    return fn


def _at_rev(repo: Repo, ref: str) -> str | None:
    """``NAME@REV``: the snapshot pinned at git revision REV; None when ``ref`` is not one
    (no ``@``, or REV is not a git revision and NAME no dataset)."""
    name, at, rev = ref.partition("@")
    if not at or not name or not rev:
        return None
    def tracked_path() -> str | None:  # a tracked path holding '@' is that, not a revision
        ds = queries.dataset_by_path(repo.graph, repo.relpath(ref))
        return ds.latest_snapshot if ds is not None and ds.latest_snapshot else None

    try:
        for fn in _REV_RESOLVERS:
            sid = fn(repo, name, rev)
            if sid is not None:
                return sid
    except UnknownRefError:
        if (sid := tracked_path()) is not None:
            return sid
        raise
    if queries.dataset(repo.graph, name) is not None and tracked_path() is None:
        raise UnknownRefError(f"{rev!r} is neither a version of dataset {name!r} nor a git revision")
    return None


def schemes() -> list[str]:
    _features.load()
    return sorted(_SCHEMES)


def _scheme(name: str) -> SchemeResolver | None:
    if name not in _SCHEMES:
        _features.load()  # the feature modules register their schemes when imported
    return _SCHEMES.get(name)


def resolve(repo: Repo, ref: str) -> str:
    """Snapshot ID for a full ID, a unique prefix, ``NAME``, ``NAME@N``, ``NAME@latest``,
    ``NAME@REV`` or a tracked path."""
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
            raise no_dataset(repo, name)
        sid = ds.latest_snapshot if ver == "latest" else queries.snapshot_at_version(g, name, int(ver))
        if sid is None:
            raise UnknownRefError(f"dataset {name!r} has no version {ver}{_versions_hint(ds.latest_version)}")
        return sid
    by_rev = _at_rev(repo, ref)
    if by_rev is not None:
        return by_rev
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
    raise NoMatchError(f"no snapshot or dataset matches {ref!r}{dataset_hint(repo, ref)}")


def dataset_hint(repo: Repo, name: str) -> str:
    """``"; did you mean 'X'?"`` naming the datasets closest to ``name`` (difflib), or ""."""
    import difflib

    close = difflib.get_close_matches(name, sorted(queries.dataset_latest(repo.graph)), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def no_dataset(repo: Repo, name: str) -> UnknownRefError:
    """The error for an unknown dataset name, with the closest names."""
    return UnknownRefError(f"no dataset named {name!r}{dataset_hint(repo, name)}")


def _versions_hint(latest: int) -> str:
    if latest < 1:
        return " (it has no versions yet)"
    return " (its only version is 1)" if latest == 1 else f" (its versions are 1 to {latest}, or 'latest')"


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

