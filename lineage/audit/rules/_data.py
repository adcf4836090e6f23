"""Helpers shared by the data rules: row sets of run inputs and their intersections."""

from __future__ import annotations

from typing import Any

EXAMPLES = 5


def row_examples(table, positions, n: int = EXAMPLES) -> list[dict[str, Any]]:
    """A few (file, row) pairs from ``table`` at ``positions`` for the evidence."""
    out = []
    for p in list(positions[:n]):
        out.append({"file": table.column("file")[int(p)].as_py(), "row": table.column("row")[int(p)].as_py()})
    return out


def overlap(ctx, train_ids: list[str], heldout_id: str, column: str = "fp") -> dict[str, Any]:
    """How many rows of snapshot ``heldout_id`` have a ``column`` key found in the train snapshots.

    Returns counts, the fraction, and example rows of the held-out side.
    """
    import numpy as np

    from lineage.audit import members

    h_pos, h_keys = ctx.keys(heldout_id, column)
    train_keys = [ctx.keys(t, column)[1] for t in train_ids]
    if not train_keys or len(h_keys) == 0:
        return {"rows": len(h_keys), "overlap": 0, "fraction": 0.0, "examples": []}
    a = np.concatenate(train_keys) if len(train_keys) > 1 else train_keys[0]
    mask = members(a, h_keys)
    hits = h_pos[mask]
    table = ctx.fingerprints(heldout_id)
    return {"rows": int(len(h_keys)), "overlap": int(mask.sum()),
            "fraction": round(float(mask.sum()) / len(h_keys), 6),
            "examples": row_examples(table, hits)}


#: Runs that only move data (cut it, transform it) make no claim about held-out data:
#: the data rules judge the runs that learn, select or score.
NOT_JUDGED = ("split", "transform")


def train_snapshots(ctx, run) -> tuple[list[str], list[dict[str, Any]]]:
    """Snapshot IDs a model behind ``run`` was trained on, with who read them.

    Empty for runs that only move data (``split``, ``transform``).
    """
    if run.kind in NOT_JUDGED:
        return [], []
    pairs = ctx.training_inputs(run)
    ids = list(dict.fromkeys(i.snapshot_id for i, _ in pairs))
    who = [{"snapshot": i.snapshot_id, "dataset": i.dataset, "path": i.path, "run_id": r.run_id,
            "kind": r.kind} for i, r in pairs]
    return ids, who
