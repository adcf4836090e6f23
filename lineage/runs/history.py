"""``lineage log --runs``: runs newest first, with their key params and metrics, filtered
the way ``git log`` filters (``-n``, ``--since``, ``--author``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lineage.repo import Repo
from lineage.runs import queries as q
from lineage.runs.model import RunSummary
from lineage.runs.record import list_runs
from lineage.snapshots.history import Since, author_matches, check_count, parse_since


@dataclass(frozen=True)
class RunLogEntry(RunSummary):
    """One line of ``lineage log --runs``: the run, its params and its last metric values."""

    params: dict[str, Any] = field(default_factory=dict)
    #: the last value of each (name, split): [{"name", "split", "value"}]
    metrics: list[dict[str, Any]] = field(default_factory=list)


def log_runs(repo: Repo, dataset: str | None = None, *, max_count: int | None = None,
             since: Since | str | None = None, author: str | None = None) -> list[RunLogEntry]:
    """Runs, newest first (those that read or wrote ``dataset``), with params and metrics."""
    check_count(max_count)
    bound = parse_since(repo, since) if isinstance(since, str) else since
    items = [r for r in list_runs(repo, dataset)
             if (bound is None or bound.admits(r.started, r.git_commit))
             and (not author or author_matches(r.user, author))]
    if max_count is not None:
        items = items[:max_count]
    ids = [r.run_id for r in items]
    params = q.params(repo.graph, ids)
    metrics: dict[str, dict[tuple[str, str | None], float]] = {}
    for m in q.metrics(repo.graph, ids):  # in logging order: the last value wins
        metrics.setdefault(m["run_id"], {})[(m["name"], m["split"])] = m["value"]
    return [RunLogEntry(**{k: getattr(r, k) for k in RunSummary.__dataclass_fields__},
                        params=params.get(r.run_id, {}),
                        metrics=[{"name": n, "split": s, "value": v}
                                 for (n, s), v in metrics.get(r.run_id, {}).items()])
            for r in items]


def summary_text(params: dict[str, Any], metrics: list[dict[str, Any]], width: int = 48) -> str:
    """``C=1.0 acc(test)=0.84``: params then metrics, cut at ``width`` characters."""
    parts = [f"{k}={_value(v)}" for k, v in sorted(params.items())]
    parts += [f"{m['name']}({m['split']})={_value(m['value'])}" if m.get("split")
              else f"{m['name']}={_value(m['value'])}" for m in metrics]
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
