"""lineage: content-addressed data snapshots, run lineage, and leakage audits for ML.

    >>> import lineage
    >>> snap = lineage.snapshot("data/train", name="train")   # doctest: +SKIP
    >>> snap.id                                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lineage import features as _features  # noqa: F401 - installs the log's plug-in loader
from lineage._version import __version__
from lineage.core.lazy import exports as _exports

if TYPE_CHECKING:
    from lineage.errors import (AmbiguousRefError, ConflictError, IntegrityError, LineageError,
                                NotInitializedError, PathError, RefError, UnknownRefError, UsageError)
    from lineage.repo import Repo

# Every entry point (``lineage --help``, ``lineage-hook``) imports this package, so nothing
# is imported here that a command may not need: the classes below on first use (PEP 562),
# the features each function calls when it is called, and the features' plug-ins when a
# graph is opened (``lineage.features`` installs only their loader). Start-up stays fast.
__getattr__, __dir__ = _exports(__name__, {
    **{name: "lineage.errors" for name in (
        "AmbiguousRefError", "ConflictError", "IntegrityError", "LineageError", "NotInitializedError",
        "PathError", "RefError", "UnknownRefError", "UsageError")},
    "Repo": "lineage.repo",
})

__all__ = [
    "AmbiguousRefError",
    "ConflictError",
    "IntegrityError",
    "LineageError",
    "NotInitializedError",
    "PathError",
    "RefError",
    "Repo",
    "UnknownRefError",
    "UsageError",
    "__version__",
    "audit_runs",
    "checkout",
    "compare_runs",
    "diff",
    "export_openlineage",
    "export_prov",
    "fetch",
    "gc",
    "import_dvc",
    "init",
    "log",
    "open",
    "provenance_of",
    "pull",
    "push",
    "query",
    "run",
    "show",
    "snapshot",
    "status",
    "used_by",
    "verify",
    "waive",
]


def open(path: str | os.PathLike[str] | None = None) -> Repo:  # noqa: A001 - mirrors the verb
    """The repository holding ``path`` (default: the current folder)."""
    from lineage.repo import Repo

    return Repo.find(path)


def init(path: str | os.PathLike[str] | None = None) -> Repo:
    """Create (or reopen) the repository at the git root holding ``path``."""
    from lineage.repo import Repo

    return Repo.init(path)[0]


def _with_repo(repo: Repo | None, fn: Any, *args: Any, **kwargs: Any) -> Any:
    if repo is not None:
        return fn(repo, *args, **kwargs)
    from lineage.repo import Repo

    with Repo.find() as r:
        return fn(r, *args, **kwargs)


def snapshot(path: str | os.PathLike[str], *, repo: Repo | None = None, **options: Any):
    """Snapshot a file or folder; returns a ``SnapshotResult`` (``.id``, ``.version``, ...).
    A URL (``s3://bucket/prefix``) is snapshotted by reference: its bytes stay where they are."""
    from lineage import snapshots as _snapshot
    from lineage.snapshots import reference as _reference

    if isinstance(path, str) and _reference.is_url(path):
        from lineage.tabular import reference as _by_reference

        options.pop("store", None)  # the bytes are never stored
        options.pop("external", None)
        return _with_repo(repo, _by_reference.create, path, **options)
    return _with_repo(repo, _snapshot.create, path, **options)


def status(target: str | None = None, *, repo: Repo | None = None):
    """What changed since the last snapshot of each tracked dataset."""
    from lineage import snapshots as _snapshot

    return _with_repo(repo, _snapshot.status, target)


def log(name: str | None = None, *, max_count: int | None = None, since: str | None = None,
        author: str | None = None, repo: Repo | None = None):
    """A dataset's snapshot history, newest first (``max_count``, ``since``, ``author``: as
    ``lineage log -n``, ``--since``, ``--author``)."""
    from lineage import snapshots as _snapshot

    return _with_repo(repo, _snapshot.log, name, max_count=max_count, since=since, author=author)


def show(ref: str, *, repo: Repo | None = None):
    """A snapshot's files and records."""
    from lineage import snapshots as _snapshot

    return _with_repo(repo, _snapshot.show, ref)


def diff(a: str, b: str | None = None, *, repo: Repo | None = None):
    """Files added, removed and changed from ``a`` to ``b``: snapshots, or paths (their
    working copies); without ``b``, from ``a`` to the working copy."""
    from lineage import snapshots as _snapshot

    return _with_repo(repo, _snapshot.diff, a, b)


def checkout(ref: str, dest: str | os.PathLike[str] | None = None, *, repo: Repo | None = None,
             force: bool = False):
    """Write a snapshot's files to ``dest``."""
    from lineage import snapshots as _snapshot

    return _with_repo(repo, _snapshot.checkout, ref, dest, force=force)


def verify(*, repo: Repo | None = None):
    """Rehash every object and check the event log."""
    from lineage.sync import verify as _verify

    return _with_repo(repo, _verify.verify)


def run(kind: str = "other", *, id: str | None = None, params: dict[str, Any] | None = None,
        repo: Repo | None = None):
    """Record a run from Python; inside ``lineage run`` (LINEAGE_RUN_ID) it joins that run.

    >>> with lineage.run(kind="train", params={"lr": 0.1}) as r:     # doctest: +SKIP
    ...     r.input("data/train", role="train")
    ...     r.log_metric("accuracy", 0.91, split="validation")
    ...     r.output("models/clf.pkl")
    """
    from lineage import runs as _runs

    return _runs.open_run(kind, id=id, params=params, repo=repo)


def compare_runs(ids: list[str], *, only_diff: bool = False, repo: Repo | None = None):
    """Runs side by side (``lineage runs compare``): a ``Comparison`` whose ``to_dict()``
    is ``{"runs": [...], "rows": [{"section", "name", "values", "differs", ...}], "versions"}``."""
    from lineage.runs import compare as _compare

    return _with_repo(repo, _compare.compare_runs, list(ids), only_diff=only_diff)


def provenance_of(ref: str, *, repo: Repo | None = None):
    """The full upstream graph (runs, inputs with roles, commits) of a snapshot, model or run."""
    from lineage.runs import provenance as _provenance

    return _with_repo(repo, _provenance.provenance, ref)


def used_by(ref: str, *, downstream: bool = False, repo: Repo | None = None):
    """Every run that read a snapshot, a copy of its content, or its dataset, by role."""
    from lineage.runs import provenance as _provenance

    return _with_repo(repo, _provenance.used_by, ref, downstream=downstream)


def query(sql: str, params: tuple[Any, ...] = (), *, limit: int | None = None,
          repo: Repo | None = None):
    """Run one read-only SQL statement over the lineage database (writes are refused)."""
    from lineage.log import readonly as _readonly

    return _with_repo(repo, lambda r: _readonly.query(r.db_path, sql, params, limit=limit))


def push(ids: list[str] | None = None, *, remote: str | None = None, repo: Repo | None = None,
         progress: Any = None):
    """Send the objects and events a remote lacks.

    >>> lineage.push(remote="origin").objects_sent                  # doctest: +SKIP
    """
    from lineage.sync import push as _push

    return _with_repo(repo, _push.push, ids, remote=remote, progress=progress)


def fetch(ids: list[str] | None = None, *, remote: str | None = None, paths: list[str] | None = None,
          repo: Repo | None = None, progress: Any = None):
    """Merge a remote's events and download (verified) the objects asked for."""
    from lineage.sync import fetch as _fetch

    return _with_repo(repo, _fetch.fetch, ids, remote=remote, paths=paths, progress=progress)


def pull(ids: list[str] | None = None, *, remote: str | None = None, paths: list[str] | None = None,
         dest: str | None = None, force: bool = False, repo: Repo | None = None, progress: Any = None):
    """Fetch, then check out the snapshots named (or every missing tracked dataset)."""
    from lineage.sync import fetch as _fetch

    return _with_repo(repo, _fetch.pull, ids, remote=remote, paths=paths, dest=dest, force=force,
                      progress=progress)


def gc(*, dry_run: bool = False, remote: str | None = None, repo: Repo | None = None):
    """Remove objects nothing in the log references (locally, or on ``remote``)."""
    from lineage.sync import gc as _gc

    return _with_repo(repo, _gc.collect, dry_run=dry_run, remote=remote)


def audit_runs(run_ids: list[str] | None = None, *, all: bool = False,  # noqa: A002 - mirrors --all
               since: str | None = None, rules: list[str] | None = None,
               fail_on: str | None = None, repo: Repo | None = None):
    """Audit runs for leakage and test reuse; returns an ``AuditReport``.

    (Named ``audit_runs`` because ``lineage.audit`` is the module that implements it.)

    >>> report = lineage.audit_runs(all=True)                  # doctest: +SKIP
    >>> report.exit_code("error"), report.summary["error"]      # doctest: +SKIP
    """
    from lineage import audit as _audit

    def go(r: Repo):
        ids = _audit.select_runs(r, run_ids, all_runs=all, since=since)
        return _audit.run(r, ids, only=rules, fail_on=fail_on)

    return _with_repo(repo, go)


def waive(rule: str, run_id: str, reason: str, *, expires: str | None = None, force: bool = False,
          repo: Repo | None = None):
    """Accept a rule's current findings on a run, with a reason (recorded as an event)."""
    from lineage import audit as _audit

    return _with_repo(repo, _audit.waive, rule, run_id, reason, expires=expires, force=force)


def import_dvc(path: str | os.PathLike[str] | None = None, *, repo: Repo | None = None):
    """Register a DVC repository's outputs as snapshots (md5 aliases) and stages as runs.

    >>> lineage.import_dvc(".").to_dict()["summary"]             # doctest: +SKIP
    """
    from lineage.interop import dvc as _dvc

    return _with_repo(repo, _dvc.import_repo, path)


def export_openlineage(run_ids: list[str] | None = None, *, namespace: str | None = None,
                       repo: Repo | None = None) -> list[dict[str, Any]]:
    """OpenLineage RunEvents (dicts) of the given runs, or of every run when None."""
    from lineage.interop import openlineage as _ol

    return _with_repo(repo, _ol.export, run_ids, namespace=namespace)


def export_prov(run_ids: list[str] | None = None, *, format: str = "json",  # noqa: A002
                repo: Repo | None = None) -> str:
    """A W3C PROV document (PROV-JSON by default) of the given runs, or of everything."""
    from lineage.interop import prov as _prov

    return _with_repo(repo, _prov.export, run_ids, format=format)
