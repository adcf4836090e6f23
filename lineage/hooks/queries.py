"""Queries the commit hooks need: which runs wrote the files a commit is about to record."""

from __future__ import annotations

import json
from collections.abc import Iterable

from lineage.log import Graph


def runs_writing(g: Graph, paths: Iterable[str]) -> list[str]:
    """Runs that recorded one of ``paths``, or a folder holding one, as an output (oldest first).

    ``paths`` are relative to the workspace root, as run outputs are recorded.
    """
    candidates: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")
        candidates.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    if not candidates:
        return []
    rows = g.conn.execute(
        "SELECT r.run_id FROM runs r WHERE r.run_id IN ("
        "  SELECT o.run_id FROM run_output_records o"
        "  WHERE o.path IN (SELECT value FROM json_each(?))) "
        "ORDER BY r.started, r.run_id",
        (json.dumps(sorted(candidates)),),
    )
    return [r[0] for r in rows]
