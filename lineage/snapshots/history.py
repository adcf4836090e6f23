"""A dataset's history (``log``) and one snapshot's files and records (``show``)."""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import asdict, dataclass
from typing import Any

from lineage.core import git
from lineage.errors import UsageError
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.snapshots.refs import load_manifest, no_dataset, resolve


@dataclass(frozen=True)
class LogEntry:
    dataset: str | None
    version: int | None
    snapshot: str | None
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
    #: ``snapshot``, or ``forget`` (``lineage forget``: ``snapshot`` is then the last one the
    #: dataset had, or None)
    kind: str = "snapshot"
    #: recorded from a path outside the repository (``--external``: ``path`` is absolute)
    external: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _entry(r: dict[str, Any]) -> LogEntry:
    return LogEntry(**r, external=bool(r.get("path")) and os.path.isabs(r["path"]))


def _forgets(repo: Repo, name: str | None) -> list[LogEntry]:
    """``lineage forget`` as log entries, each with the snapshot the dataset had then."""
    found = []
    for f in queries.forget_events(repo.graph, name):
        before = [r for r in queries.records_of_dataset(repo.graph, f["name"]) if r["time"] <= f["time"]]
        last = before[0] if before else None  # newest first
        found.append(LogEntry(f["name"], last["version"] if last else None, last["snapshot"] if last else None,
                              f["time"], f["user"] or f["actor"], None, None, f["path"], None, None, None,
                              0, 0, kind="forget"))
    return found


@dataclass(frozen=True)
class Since:
    """The lower bound of ``log --since``: an ISO date/time, or a git commit.

    For a commit, an entry belongs when it was recorded on that commit or a later one
    (``REF..HEAD``), or (recorded outside git) after the commit's time, as for
    ``lineage audit --since``.
    """

    time: str
    commits: frozenset[str] | None = None

    def admits(self, time: str | None, commit: str | None) -> bool:
        if self.commits is not None and commit:
            return commit in self.commits
        return (time or "") >= self.time


def parse_since(repo: Repo, ref: str) -> Since:
    """Parse ``--since``: an ISO date or date/time (UTC unless it names a zone) or a git ref."""
    try:
        when = _dt.datetime.fromisoformat(ref.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is not None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return Since(_iso(when))
    sha = git.text(repo.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") if ref else None
    if not sha:
        raise UsageError(f"--since: {ref!r} is neither a git commit nor an ISO date")
    later = set((git.text(repo.root, "rev-list", f"{sha}..HEAD") or "").split()) | {sha}
    when = _dt.datetime.fromisoformat(git.text(repo.root, "log", "-1", "--format=%cI", sha) or "")
    return Since(_iso(when), frozenset(later))


def _iso(when: _dt.datetime) -> str:
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_count(max_count: int | None) -> None:
    if max_count is not None and max_count < 0:
        raise UsageError(f"--max-count must be 0 or more, not {max_count}")


def log(repo: Repo, name: str | None = None, *, max_count: int | None = None,
        since: Since | str | None = None, author: str | None = None) -> list[LogEntry]:
    """History of one dataset (newest first), or of every snapshot recorded.

    ``max_count`` keeps the newest N entries, ``since`` those recorded since a date or
    git ref (``Since`` or its text), ``author`` those whose user contains the text
    (case-insensitive), as ``git log -n``, ``--since`` and ``--author`` do.
    """
    check_count(max_count)
    g = repo.graph
    if name is None:
        rows = queries.records_all(g)
    else:
        ds = queries.dataset(g, name) or queries.dataset_by_path(g, repo.relpath(name))
        if ds is None:
            raise no_dataset(repo, name)
        rows = queries.records_of_dataset(g, ds.name)
    entries = [_entry(r) for r in rows]
    forgets = _forgets(repo, None if name is None else ds.name)  # type: ignore[union-attr]
    if forgets:  # newest first, as the records are
        entries = sorted(entries + forgets, key=lambda e: e.time, reverse=True)
    bound = parse_since(repo, since) if isinstance(since, str) else since
    if bound is not None:
        entries = [e for e in entries if bound.admits(e.time, e.git_commit)]
    if author:
        entries = [e for e in entries if author_matches(e.user, author)]
    return entries if max_count is None else entries[:max_count]


def author_matches(user: str | None, text: str) -> bool:
    """``--author``: the text appears in the user (name or email), ignoring case."""
    return text.casefold() in (user or "").casefold()


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    kind: str
    files: list[dict[str, Any]]
    file_count: int
    bytes: int
    records: list[LogEntry]
    stored: bool
    #: recorded from a path outside the repository (``--external``)
    external: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records"] = [r.to_dict() for r in self.records]
        return d


def show(repo: Repo, ref: str) -> SnapshotInfo:
    """A snapshot's files, sizes, and every time it was recorded (who, when, which commit)."""
    sid = resolve(repo, ref)
    manifest = load_manifest(repo, sid)
    records = [_entry(r) for r in queries.records_of_snapshot(repo.graph, sid)]
    stored = all(repo.store.exists(e.digest) for e in manifest.entries)
    return SnapshotInfo(sid, manifest.kind, [e.to_dict() for e in manifest.entries],
                        len(manifest.entries), manifest.total_size, records, stored,
                        any(r.external for r in records))

