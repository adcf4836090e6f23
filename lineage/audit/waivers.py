"""Waivers: a recorded acceptance of one rule's findings on one run, with a reason.

A waiver is an ``audit.waive`` event (the ``waivers`` table is its projection); it may
expire, and an ``audit.unwaive`` event revokes it (``waiver_revocations``). A waiver
applies while it is neither expired nor revoked. Waived findings are still reported,
marked waived with who accepted them, when and why; they never fail an audit.

This module reads waivers and applies them to findings; ``audit.record`` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineage import runs as _runs
from lineage.audit import queries as gaudit
from lineage.audit.rules import Finding
from lineage.log.events import utc_now
from lineage.repo import Repo

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"


@dataclass(frozen=True)
class Waiver:
    rule: str
    run_id: str
    reason: str
    user: str | None
    time: str
    event_id: str
    expires: str | None = None
    forced: bool = False
    status: str = ACTIVE
    revoked: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "run_id": self.run_id, "reason": self.reason, "user": self.user,
                "time": self.time, "event_id": self.event_id, "expires": self.expires,
                "forced": self.forced, "status": self.status, "revoked": self.revoked}

    @classmethod
    def from_row(cls, row: dict[str, Any], now: str) -> Waiver:
        """A waiver from a ``queries.waiver_list`` row, with its status at ``now``."""
        revoked = None
        if row.get("revoke_event_id"):
            revoked = {"user": row["revoked_by"], "time": row["revoked_time"], "reason": row["revoke_reason"],
                       "event_id": row["revoke_event_id"]}
        status = REVOKED if revoked else EXPIRED if row["expires"] and row["expires"] <= now else ACTIVE
        return cls(row["rule"], row["run_id"], row["reason"], row["user"], row["time"], row["event_id"],
                   row["expires"], bool(row["forced"]), status, revoked)


def listing(repo: Repo, run_ref: str | None = None, *, include_all: bool = False,
            now: str | None = None) -> list[Waiver]:
    """Waivers (of one run, if given), oldest first: those in force, or every one with ``include_all``."""
    now = now or utc_now()
    run_id = _runs.resolve(repo, run_ref) if run_ref is not None else None
    items = [Waiver.from_row(r, now) for r in gaudit.waiver_list(repo.graph, run_id)]
    return items if include_all else [w for w in items if w.status == ACTIVE]


def for_runs(repo: Repo, run_ids: list[str], *, now: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """{(rule, run_id): the latest waiver in force} of the given runs (not expired, not revoked)."""
    return gaudit.waivers(repo.graph, run_ids, now=now or utc_now())


def apply(findings: list[Finding], waived: dict[tuple[str, str], dict[str, Any]]) -> list[Finding]:
    """The findings, those of a waived (rule, run) marked waived with the waiver."""
    out = []
    for f in findings:
        w = waived.get((f.rule, f.run_id))
        out.append(f if w is None else Finding(f.rule, f.severity, f.run_id, f.message, f.evidence, True, w))
    return out
