"""The one writer of waiver events: ``audit.waive`` (accept a current finding) and
``audit.unwaive`` (revoke a waiver).

    >>> record.waive(repo, "test-reuse", run_id, "scored twice on purpose", expires="30d")  # doctest: +SKIP
    >>> record.revoke(repo, "3fa9c1")                  # a waiver ID or a unique prefix  # doctest: +SKIP

A waiver must match a finding the rule reports on the run now (the audit of that run
and rule is run first), unless it is forced: a forced waiver says so in its event.
"""

from __future__ import annotations

import datetime as _dt
import re

from lineage import runs as _runs
from lineage.audit import engine
from lineage.audit import queries as gaudit
from lineage.audit.rules import load
from lineage.audit.waivers import ACTIVE, REVOKED, Waiver
from lineage.errors import AmbiguousRefError, UnknownRefError, UsageError
from lineage.log.events import utc_now
from lineage.repo import Repo

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_expiry(text: str, now: str | None = None) -> str:
    """An expiry as a UTC event time: an ISO date (its start, UTC), an ISO date-time
    (UTC unless it names an offset) or a duration from now (``90m``, ``12h``, ``30d``, ``2w``).
    It must lie in the future."""
    start = _dt.datetime.strptime(now or utc_now(), _FORMAT).replace(tzinfo=_dt.timezone.utc)
    m = _DURATION.match(text or "")
    if m:
        when = start + _dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    else:
        try:
            when = _dt.datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--expires: {text!r} is neither an ISO date or time nor a duration "
                             "like 30d, 12h, 2w") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
    if when <= start:
        raise UsageError(f"--expires: {text!r} is not in the future")
    return when.astimezone(_dt.timezone.utc).strftime(_FORMAT)


def waive(repo: Repo, rule: str, run_ref: str, reason: str, *, expires: str | None = None,
          force: bool = False) -> Waiver:
    """Record that the findings of ``rule`` on a run are accepted, with a reason (an event).

    Refused unless the rule reports a finding on that run now; ``force`` records it anyway,
    marked forced. ``expires`` (see ``parse_expiry``) ends the waiver at that time.
    """
    if rule not in load():
        raise UsageError(f"unknown rule {rule!r}; see 'lineage rules'")
    if not reason or not reason.strip():
        raise UsageError("a waiver needs a reason (--reason TEXT)")
    run_id = _runs.resolve(repo, run_ref)
    until = parse_expiry(expires) if expires is not None else None
    if not force:
        report = engine.run(repo, [run_id], only=[rule], fail_on="never")
        if not any(f.rule == rule and f.run_id == run_id for f in report.findings):
            raise UsageError(f"rule {rule} reports no finding on run {run_id}; nothing to waive "
                             "(--force records the waiver anyway)")
    body: dict[str, object] = {"rule": rule, "run_id": run_id, "reason": reason.strip(), "user": repo.user}
    if until is not None:
        body["expires"] = until
    if force:
        body["forced"] = True
    ev = repo.graph.append("audit.waive", body, actor=repo.user)
    return Waiver(rule, run_id, reason.strip(), repo.user, ev.time, ev.id, until, force, ACTIVE)


def revoke(repo: Repo, target: str, run_ref: str | None = None, *, reason: str | None = None) -> list[Waiver]:
    """Revoke a waiver (``target`` is its ID or a unique prefix of it), or, given ``run_ref``,
    every waiver in force of rule ``target`` on that run. One ``audit.unwaive`` event each;
    returns the waivers revoked."""
    now = utc_now()
    if run_ref is not None:
        run_id = _runs.resolve(repo, run_ref)
        found = [Waiver.from_row(r, now) for r in gaudit.waiver_list(repo.graph, run_id) if r["rule"] == target]
        targets = [w for w in found if w.status == ACTIVE]
        if not targets:
            raise UnknownRefError(f"no waiver in force of rule {target} on run {run_id}")
    else:
        prefix = (target or "").strip().lower()
        if len(prefix) < 4 or not re.fullmatch(r"[0-9a-f]+", prefix):
            raise UsageError(f"{target!r} is not a waiver ID (at least 4 hex digits); "
                             "or give RULE RUN")
        rows = gaudit.waivers_with_prefix(repo.graph, prefix)
        if not rows:
            raise UnknownRefError(f"no waiver matches {target!r}; see 'lineage waivers --all'")
        if len(rows) > 1:
            raise AmbiguousRefError(f"prefix {target!r} matches several waivers; give more characters")
        w = Waiver.from_row(rows[0], now)
        if w.status == REVOKED:
            raise UsageError(f"waiver {w.event_id[:12]} was already revoked")
        targets = [w]
    note = reason.strip() if reason and reason.strip() else None
    out = []
    for w in targets:
        body: dict[str, object] = {"waiver_id": w.event_id, "rule": w.rule, "run_id": w.run_id,
                                   "user": repo.user}
        if note:
            body["reason"] = note
        ev = repo.graph.append("audit.unwaive", body, actor=repo.user)
        out.append(Waiver(w.rule, w.run_id, w.reason, w.user, w.time, w.event_id, w.expires, w.forced,
                          REVOKED, {"user": repo.user, "time": ev.time, "reason": note, "event_id": ev.id}))
    return out
