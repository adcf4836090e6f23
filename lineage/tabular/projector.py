"""Projector of ``tabular.file`` events into ``tabular_files``.

Two clones may compute the same file's metadata independently; the first event in
the canonical replay order wins, so every clone ends with the same row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from lineage.log import Graph
from lineage.log.events import Event
from lineage.log.registry import projector
from lineage.log.references import reference_provider
from lineage.tabular.queries import decl_key, referenced_digests


@projector("tabular.file")
def _tabular_file(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR IGNORE INTO tabular_files (digest, scheme, decl_key, event_id, format, status, "
        "error, rows, columns, notes, fingerprints, profile, minhash, time, rows_key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (b["digest"], int(b["scheme"]), decl_key(b.get("declarations") or {}), ev.id,
         b.get("format"), b["status"], b.get("error"), b.get("rows"),
         # sorted keys: a live append sees the body as written, a rebuild as canonical JSON
         json.dumps(b.get("columns") or [], ensure_ascii=False, sort_keys=True),
         json.dumps(b.get("notes") or [], ensure_ascii=False, sort_keys=True),
         b.get("fingerprints"), b.get("profile"), b.get("minhash"), ev.time, b.get("rows_key")),
    )


@reference_provider("tabular")
def _tabular_objects(graph: Graph) -> Iterable[str]:
    """Derived objects of tabular records: fingerprint Parquet, profile JSON, MinHash Parquet."""
    return referenced_digests(graph)
