"""``lineage runs compare``: runs side by side, one column per run (``dvc exp show``,
the MLflow compare view): what they were, the params, the metrics by name and split,
the inputs by role, the outputs, the code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineage.errors import UsageError
from lineage.repo import Repo
from lineage.runs import queries as q
from lineage.runs.model import RunRecord, short_id
from lineage.runs.record import get

#: The sections of a comparison, in the order rows are listed.
SECTIONS = ("run", "param", "metric", "input", "output")


@dataclass(frozen=True)
class CompareRow:
    """One line: a field of every run (``None`` where a run has none)."""

    section: str
    name: str
    values: tuple[Any, ...]
    split: str | None = None     # metrics: the split the value was computed on
    role: str | None = None      # inputs: the role the run read it in

    @property
    def differs(self) -> bool:
        return any(v != self.values[0] for v in self.values[1:])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"section": self.section, "name": self.name}
        if self.section == "metric":
            d["split"] = self.split
        if self.section == "input":
            d["role"] = self.role
        return {**d, "values": list(self.values), "differs": self.differs}


@dataclass(frozen=True)
class Comparison:
    runs: tuple[dict[str, Any], ...]
    rows: tuple[CompareRow, ...]
    #: snapshot ID -> "NAME@N", for the snapshots in input and output rows
    versions: dict[str, str]

    def only_diff(self) -> Comparison:
        return Comparison(self.runs, tuple(r for r in self.rows if r.differs), self.versions)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": list(self.runs), "rows": [r.to_dict() for r in self.rows],
                "versions": dict(self.versions)}


def compare_runs(repo: Repo, refs: list[str], *, only_diff: bool = False) -> Comparison:
    """Compare two or more runs (IDs, prefixes or short IDs), one column per run."""
    if len(refs) < 2:
        raise UsageError("runs compare needs two or more runs")
    records = [get(repo, ref) for ref in refs]
    seen = [r.run_id for r in records]
    dupes = sorted({x for x in seen if seen.count(x) > 1})
    if dupes:
        raise UsageError(f"run {short_id(dupes[0])} is named twice")
    rows: list[CompareRow] = []
    rows += _run_rows(records)
    rows += _keyed(records, "param", lambda r: {(k, None, None): v for k, v in r.params.items()})
    rows += _keyed(records, "metric", _metrics)
    rows += _keyed(records, "input", _inputs)
    rows += _keyed(records, "output", _outputs)
    sids = {v for row in rows if row.section in ("input", "output") for v in row.values if v}
    names = q.datasets_of(repo.graph, sids)
    versions = {sid: f"{n[0][0]}@{n[0][1]}" if n[0][1] is not None else n[0][0]
                for sid, n in names.items() if n}
    result = Comparison(tuple(_head(r) for r in records), tuple(rows), versions)
    return result.only_diff() if only_diff else result


def _head(r: RunRecord) -> dict[str, Any]:
    return {"run_id": r.run_id, "short_id": short_id(r.run_id), "kind": r.kind, "status": r.status,
            "started": r.started, "user": r.user}


def _run_rows(records: list[RunRecord]) -> list[CompareRow]:
    def field(name: str, get_value: Any) -> CompareRow:
        return CompareRow("run", name, tuple(get_value(r) for r in records))

    return [
        field("kind", lambda r: r.kind),
        field("status", lambda r: r.status),
        field("commit", lambda r: (r.git or {}).get("commit")),
        field("dirty", lambda r: (r.git or {}).get("dirty")),
        field("user", lambda r: r.user),
    ]  # when each started is in ``runs``: it always differs


def _metrics(r: RunRecord) -> dict[tuple[str, str | None, str | None], Any]:
    last: dict[tuple[str, str | None, str | None], Any] = {}
    for m in r.metrics:  # in logging order: the last value of a (name, split) wins
        last[(m.name, m.split, None)] = m.value
    return last


def _inputs(r: RunRecord) -> dict[tuple[str, str | None, str | None], Any]:
    by: dict[tuple[str, str | None, str | None], list[str]] = {}
    for i in r.inputs:
        ids = by.setdefault((i.dataset or i.path or i.snapshot_id, None, i.role), [])
        if i.snapshot_id not in ids:
            ids.append(i.snapshot_id)
    return {k: v[0] if len(v) == 1 else v for k, v in by.items()}


def _outputs(r: RunRecord) -> dict[tuple[str, str | None, str | None], Any]:
    by: dict[tuple[str, str | None, str | None], list[str]] = {}
    for o in r.outputs:
        ids = by.setdefault((o.dataset or o.path or o.snapshot_id, None, None), [])
        if o.snapshot_id not in ids:
            ids.append(o.snapshot_id)
    return {k: v[0] if len(v) == 1 else v for k, v in by.items()}


def _keyed(records: list[RunRecord], section: str, values: Any) -> list[CompareRow]:
    per_run = [values(r) for r in records]
    keys: list[tuple[str, str | None, str | None]] = []
    for d in per_run:
        keys += [k for k in d if k not in keys]
    keys.sort(key=lambda k: (k[2] or "", k[0], k[1] or ""))
    return [CompareRow(section, name, tuple(d.get((name, split, role)) for d in per_run),
                       split=split, role=role) for name, split, role in keys]
