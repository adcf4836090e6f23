"""The ``alias`` event: its projector and the queries over ``snapshot_aliases``.

Event body: ``{"snapshot_id": ..., "scheme": "dvc-md5", "value": "<md5>[.dir]"}``.
Recording the same alias twice is harmless; the first record's time is kept.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from lineage.log import Graph
from lineage.log.events import Event
from lineage.log.registry import projector

EVENT_TYPE = "alias"


@projector(EVENT_TYPE)
def _alias(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR IGNORE INTO snapshot_aliases (scheme, value, snapshot_id, event_id, time) "
        "VALUES (?, ?, ?, ?, ?)",
        (b["scheme"], b["value"], b["snapshot_id"], ev.id, ev.time),
    )


@dataclass(frozen=True)
class Alias:
    scheme: str
    value: str
    snapshot_id: str
    time: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alias:
        return cls(d["scheme"], d["value"], d["snapshot_id"], d["time"])


def has_alias(g: Graph, scheme: str, value: str, snapshot_id: str) -> bool:
    return g.conn.execute(
        "SELECT 1 FROM snapshot_aliases WHERE scheme = ? AND value = ? AND snapshot_id = ?",
        (scheme, value, snapshot_id),
    ).fetchone() is not None


def snapshots_with_alias(g: Graph, scheme: str, value: str, limit: int = 10) -> list[str]:
    """Snapshot IDs carrying this alias, oldest record first."""
    rows = g.conn.execute(
        "SELECT snapshot_id FROM snapshot_aliases WHERE scheme = ? AND value = ? "
        "ORDER BY time, snapshot_id LIMIT ?", (scheme, value, limit))
    return [r[0] for r in rows]


def values_with_prefix(g: Graph, scheme: str, prefix: str, limit: int = 3) -> list[str]:
    """Distinct alias values of ``scheme`` that start with ``prefix``."""
    rows = g.conn.execute(
        "SELECT DISTINCT value FROM snapshot_aliases WHERE scheme = ? AND value >= ? AND value < ? "
        "ORDER BY value LIMIT ?", (scheme, prefix, prefix + "\uffff", limit))
    return [r[0] for r in rows]


def aliases_of(g: Graph, snapshot_id: str) -> list[Alias]:
    rows = g.conn.execute(
        "SELECT scheme, value, snapshot_id, time FROM snapshot_aliases WHERE snapshot_id = ? "
        "ORDER BY scheme, value", (snapshot_id,))
    return [Alias(*r) for r in rows]
