"""``lineage forget NAME``: stop tracking a dataset, keeping its history.

Recorded as a ``dataset.forget`` event ``{"name", "path", "user"}``
(``schemas/dataset-events.schema.json``). The dataset's snapshots still resolve by ID
and by ``NAME@N``; ``status``, the status hook and ``pull`` no longer look at it, and
its line leaves ``lineage.lock``. A later snapshot of the dataset (or of its path)
tracks it again.

    >>> forget(repo, "scratch")                                   # doctest: +SKIP
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from lineage.errors import UsageError
from lineage.log.events import Event
from lineage.log.registry import projector
from lineage.repo import Repo
from lineage.snapshots import lock, queries
from lineage.snapshots.refs import no_dataset

EVENT_TYPE = "dataset.forget"


@projector(EVENT_TYPE)
def _forget(conn: sqlite3.Connection, ev: Event) -> None:
    conn.execute("UPDATE datasets SET tracked = 0 WHERE name = ?", (ev.body["name"],))


@projector("snapshot")
def _track(conn: sqlite3.Connection, ev: Event) -> None:
    """A snapshot of a dataset tracks it (again); its latest record says whether it is external."""
    b = ev.body
    if not b.get("dataset"):
        return
    conn.execute("UPDATE datasets SET tracked = 1 WHERE name = ?", (b["dataset"],))
    conn.execute("UPDATE datasets SET external = ? WHERE name = ? AND latest_snapshot = ?",
                 (int(bool(b.get("external"))), b["dataset"], b["snapshot_id"]))


@dataclass(frozen=True)
class ForgetResult:
    dataset: str
    path: str | None
    latest_snapshot: str | None
    latest_version: int
    event_id: str
    #: its line was taken out of lineage.lock
    lock_updated: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def forget(repo: Repo, name: str) -> ForgetResult:
    """Stop tracking dataset ``name`` (a name or its path); its history is kept."""
    g = repo.graph
    row = queries.dataset(g, name) or queries.dataset_by_path(g, repo.relpath(name))
    if row is None:
        raise no_dataset(repo, name)
    with g.transaction():
        fresh = queries.dataset(g, row.name)  # decided under the write lock
        if fresh is None or not fresh.tracked:
            raise UsageError(f"dataset {row.name!r} is not tracked (already forgotten)")
        ev = g.append(EVENT_TYPE, {"name": fresh.name, "path": fresh.path, "user": repo.user},
                      actor=repo.user)
    removed = lock.remove(repo, fresh.name)
    return ForgetResult(fresh.name, fresh.path, fresh.latest_snapshot, fresh.latest_version, ev.id,
                        removed)
