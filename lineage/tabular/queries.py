"""Read queries over tabular file records (``tabular_files``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from lineage.log import Graph

__all__ = ["TabularRecord", "decl_key", "record", "records_for", "referenced_digests"]


@dataclass(frozen=True)
class TabularRecord:
    digest: str
    scheme: int
    declarations: str
    event_id: str
    format: str | None
    status: str
    error: str | None
    rows: int | None
    columns: list[dict[str, Any]]
    notes: list[str]
    fingerprints: str | None
    profile: str | None
    minhash: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decl_key(declarations: dict[str, str]) -> str:
    """The declarations that shape a file's derived data, as a canonical string key."""
    relevant = {k: declarations[k] for k in ("label", "group", "time", "text") if declarations.get(k)}
    return json.dumps(relevant, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_COLS = ("digest, scheme, decl_key, event_id, format, status, error, rows, columns, notes, "
         "fingerprints, profile, minhash")


def _row(r: tuple[Any, ...]) -> TabularRecord:
    return TabularRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]),
                         json.loads(r[9]), r[10], r[11], r[12])


def record(g: Graph, digest: str, scheme: int, declarations: dict[str, str]) -> TabularRecord | None:
    """The record of one file content under one scheme and set of declarations."""
    row = g.conn.execute(
        f"SELECT {_COLS} FROM tabular_files WHERE digest = ? AND scheme = ? AND decl_key = ?",
        (digest, scheme, decl_key(declarations)),
    ).fetchone()
    return None if row is None else _row(row)


def records_for(g: Graph, digest: str, scheme: int | None = None) -> list[TabularRecord]:
    """Every record of one file content (any declarations), newest scheme first."""
    sql = f"SELECT {_COLS} FROM tabular_files WHERE digest = ?"
    args: list[Any] = [digest]
    if scheme is not None:
        sql += " AND scheme = ?"
        args.append(scheme)
    return [_row(r) for r in g.conn.execute(sql + " ORDER BY scheme DESC, time", args)]


def referenced_digests(g: Graph) -> list[str]:
    """Digests of every derived object a tabular record points to (gc and push keep them)."""
    rows = g.conn.execute(
        "SELECT fingerprints FROM tabular_files WHERE fingerprints IS NOT NULL "
        "UNION SELECT profile FROM tabular_files WHERE profile IS NOT NULL "
        "UNION SELECT minhash FROM tabular_files WHERE minhash IS NOT NULL"
    )
    return sorted(r[0] for r in rows)
