"""Waivers: a recorded acceptance of one rule's findings on one run, with a reason.

A waiver is an ``audit.waive`` event; the ``waivers`` table is its projection. Waived
findings are still reported, marked waived with who accepted them, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineage import runs as _runs
from lineage.audit import queries as gaudit
from lineage.audit.rules import Finding, load
from lineage.errors import UsageError
from lineage.repo import Repo


@dataclass(frozen=True)
class Waiver:
    rule: str
    run_id: str
    reason: str
    user: str
    time: str
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "run_id": self.run_id, "reason": self.reason, "user": self.user,
                "time": self.time, "event_id": self.event_id}


def waive(repo: Repo, rule: str, run_ref: str, reason: str) -> Waiver:
    """Record that findings of ``rule`` on a run are accepted, with a reason (an event)."""
    if rule not in load():
        raise UsageError(f"unknown rule {rule!r}; see 'lineage rules'")
    if not reason or not reason.strip():
        raise UsageError("a waiver needs a reason (--reason TEXT)")
    run_id = _runs.resolve(repo, run_ref)
    ev = repo.graph.append("audit.waive", {"rule": rule, "run_id": run_id, "reason": reason.strip(),
                                           "user": repo.user}, actor=repo.user)
    return Waiver(rule, run_id, reason.strip(), repo.user, ev.time, ev.id)


def for_runs(repo: Repo, run_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(rule, run_id): the latest waiver} of the given runs."""
    return gaudit.waivers(repo.graph, run_ids)


def apply(findings: list[Finding], waived: dict[tuple[str, str], dict[str, Any]]) -> list[Finding]:
    """The findings, those of a waived (rule, run) marked waived with the waiver."""
    out = []
    for f in findings:
        w = waived.get((f.rule, f.run_id))
        out.append(f if w is None else Finding(f.rule, f.severity, f.run_id, f.message, f.evidence, True, w))
    return out
