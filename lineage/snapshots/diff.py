"""Files added, removed and changed, as git diffs them (``diff --rows``: lineage.tabular).

Each side is a snapshot or a working copy:

- ``diff(repo, A, B)``: A to B. An argument that names an existing file or folder is
  the working copy at that path; anything else is a snapshot reference (``NAME@N``,
  an ID...). To name a dataset's latest snapshot when its name is also a path that
  exists, write ``NAME@latest``.
- ``diff(repo, A)``: A to the working copy. A snapshot is compared with the workspace
  at its dataset's path; a path, with the latest snapshot recorded at that path.
- ``diff_workspace(repo)``: every tracked dataset's latest snapshot to its working copy.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lineage.errors import UnknownRefError, UsageError
from lineage.repo import Repo
from lineage.snapshots import queries, workspace
from lineage.snapshots.refs import load_manifest, resolve
from lineage.store.backends import scheme_of

#: The ``a`` or ``b`` of a diff whose side is the working copy (its path in ``a_path``/``b_path``).
WORKSPACE = "workspace"


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    modified: list[dict[str, Any]]
    unchanged: int
    #: the working copy's path (from the repository root) when ``a`` / ``b`` is ``workspace``
    a_path: str | None = None
    b_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.modified)


@dataclass(frozen=True)
class Side:
    """One side of a diff: a snapshot (``id``) or the working copy at ``path``."""

    id: str                       # a snapshot ID, or WORKSPACE
    path: str | None              # the working copy's path (repository-relative), or None
    kind: str                     # file | folder
    files: dict[str, dict[str, Any]]

    @property
    def is_workspace(self) -> bool:
        return self.id == WORKSPACE


def _snapshot_side(repo: Repo, sid: str) -> Side:
    m = load_manifest(repo, sid)
    return Side(sid, None, m.kind, {p: e.to_dict() for p, e in m.by_path().items()})


def working_side(repo: Repo, path: str | os.PathLike[str]) -> Side:
    """The working copy at ``path`` (missing: no files), digests through the stat cache."""
    target = Path(os.path.abspath(path))
    rel = repo.relpath(target)
    if not os.path.lexists(target):
        return Side(WORKSPACE, rel, "folder", {})
    kind, found = workspace.scan_path(target)
    digests = workspace.digests(repo, found)
    files = {f.rel: {"path": f.rel, "size": f.size, "digest": digests[f.rel], "executable": f.executable}
             for f in found}
    return Side(WORKSPACE, rel, kind, files)


def _is_path(arg: str) -> bool:
    return os.path.lexists(arg)


def _dataset_path_of(repo: Repo, sid: str, ref: str) -> str:
    """Where the working copy of snapshot ``sid`` (named by ``ref``) lives."""
    name = ref.split("@", 1)[0]
    ds = queries.dataset(repo.graph, name) if name else None
    if ds is not None and ds.path and ds.latest_snapshot:
        return ds.path
    recorded = queries.last_recorded_path(repo.graph, sid)
    if recorded is None:
        raise UsageError(f"snapshot {sid[:12]} has no recorded path; give the path to compare it with")
    return recorded


def _latest_at(repo: Repo, path: str) -> str:
    """The latest snapshot recorded at the working path ``path``."""
    rel = repo.relpath(path)
    ds = queries.dataset_by_path(repo.graph, rel)
    if ds is None or not ds.latest_snapshot:
        raise UnknownRefError(f"no snapshot was recorded at {rel!r}; run 'lineage snapshot {rel}' first")
    return ds.latest_snapshot


def side(repo: Repo, arg: str) -> Side:
    """``arg`` as a side: the working copy if it names an existing path, else a snapshot."""
    if _is_path(arg):
        return working_side(repo, arg)
    return _snapshot_side(repo, resolve(repo, arg))


def compare(a: Side, b: Side) -> Diff:
    """Files added, removed and changed from side ``a`` to side ``b``."""
    fa, fb = a.files, b.files
    if a.kind == "file" and b.kind == "file" and len(fa) == 1 and len(fb) == 1:
        # one file against one file: compared whatever their names
        name = next(iter(fa))
        fb = {name: {**next(iter(fb.values())), "path": name}}
    added = [fb[p] for p in sorted(fb) if p not in fa]
    removed = [fa[p] for p in sorted(fa) if p not in fb]
    modified = [
        {"path": p, "size_a": fa[p]["size"], "size_b": fb[p]["size"], "digest_a": fa[p]["digest"],
         "digest_b": fb[p]["digest"]}
        for p in sorted(fa)
        if p in fb and (fa[p]["digest"], fa[p]["executable"]) != (fb[p]["digest"], fb[p]["executable"])
    ]
    unchanged = len(fa) - len(removed) - len(modified)
    return Diff(a.id, b.id, added, removed, modified, unchanged, a.path, b.path)


def sides(repo: Repo, a: str, b: str | None = None) -> tuple[Side, Side]:
    """The two sides ``diff(repo, a, b)`` compares."""
    if b is not None:
        return side(repo, a), side(repo, b)
    if _is_path(a):
        return _snapshot_side(repo, _latest_at(repo, a)), working_side(repo, a)
    sid = resolve(repo, a)
    return _snapshot_side(repo, sid), working_side(repo, repo.abspath(_dataset_path_of(repo, sid, a)))


def diff(repo: Repo, a: str, b: str | None = None) -> Diff:
    """Files added, removed and changed from ``a`` to ``b`` (snapshots or working paths);
    without ``b``, from ``a`` to the working copy (see the module's docstring)."""
    return compare(*sides(repo, a, b))


def workspace_pairs(repo: Repo) -> list[tuple[Side, Side]]:
    """(latest snapshot, working copy) of every tracked dataset inside the work tree."""
    out = []
    for ds in queries.tracked_datasets(repo.graph):
        if not ds.latest_snapshot or not ds.path or os.path.isabs(ds.path) or getattr(ds, "external", False):
            continue
        if scheme_of(ds.path) != "file":
            continue  # by reference (s3://...): no working copy here
        out.append((_snapshot_side(repo, ds.latest_snapshot), working_side(repo, repo.abspath(ds.path))))
    return out


def diff_workspace(repo: Repo) -> list[Diff]:
    """Every tracked dataset's latest snapshot against its working copy (those that differ)."""
    return [d for d in (compare(a, b) for a, b in workspace_pairs(repo)) if d.changed]
