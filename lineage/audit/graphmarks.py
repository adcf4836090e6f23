"""Which nodes of a lineage graph each audit finding points at, for the graph view.

A finding marks its run and every node of the graph its evidence names (snapshot and
run IDs under keys such as ``heldout``, ``test``, ``train``, ``learning_run`` or
``split_run``, at any depth). Waived findings mark nothing.

    >>> p = graphview.graph(repo)                         # doctest: +SKIP
    >>> svg = graphview.to_svg(p, marks=audit_marks(repo, p))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lineage.audit import engine
from lineage.audit.rules import Finding
from lineage.repo import Repo
from lineage.runs.provenance import RUN, Provenance


def marks(findings: Iterable[Finding], node_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """{node ID: [{rule, severity, message, run_id}, ...]} for the unwaived findings."""
    known = set(node_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f.waived:
            continue
        entry = {"rule": f.rule, "severity": f.severity, "message": f.message, "run_id": f.run_id}
        for node in sorted(({f.run_id} | set(_strings(f.evidence))) & known):
            if entry not in out.setdefault(node, []):
                out[node].append(entry)
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            yield from _strings(v)


def audit_marks(repo: Repo, p: Provenance) -> dict[str, list[dict[str, Any]]]:
    """Audit the runs of the graph and mark the nodes of each finding."""
    run_ids = [n.id for n in p.nodes if n.type == RUN]
    if not run_ids:
        return {}
    report = engine.run(repo, run_ids)
    return marks(report.findings, (n.id for n in p.nodes))
