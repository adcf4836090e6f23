"""The audit engine: pick the runs, evaluate the enabled rules, apply waivers, report.

    >>> report = audit.run(repo, ["01JC..."])       # doctest: +SKIP
    >>> report.exit_code("error")                   # 1 when a finding is at or above error

A rule that raises stops the audit with a ``RuleError`` naming it: a missing verdict
must not pass for a clean one, nor for a finding about the data.
"""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from lineage import config as _config
from lineage import runs as _runs
from lineage.audit import queries as gaudit
from lineage.audit import waivers as _waivers
from lineage.audit.context import AuditContext
from lineage.audit.rules import Finding, Rule, Severity, load
from lineage.core.hashing import hash_file
from lineage.errors import ConfigError, IntegrityError, LineageError, RuleError, UsageError
from lineage.log import integrity
from lineage.repo import Repo
from lineage.runs import queries as _runqueries
from lineage.runs.projector import content_key
from lineage.snapshots.history import parse_since
from lineage.snapshots.scan import scan

FAIL_ON = ("critical", "error", "warning", "info", "never")


# -- configuration ----------------------------------------------------------------

@dataclass(frozen=True)
class AuditConfig:
    """``[tool.lineage.audit]`` of pyproject.toml: which rules run, with what settings."""

    fail_on: str = "error"
    disabled: frozenset[str] = frozenset()
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, repo: Repo) -> AuditConfig:
        raw = _config.pyproject_settings(repo.root).get("audit", {})
        if not isinstance(raw, dict):
            raise ConfigError("[tool.lineage.audit] must be a table")
        fail_on = str(raw.get("fail-on", raw.get("fail_on", "error")))
        if fail_on not in FAIL_ON:
            raise ConfigError(f"[tool.lineage.audit] fail-on must be one of {', '.join(FAIL_ON)}")
        disabled = raw.get("disable", [])
        if not isinstance(disabled, list) or not all(isinstance(x, str) for x in disabled):
            raise ConfigError("[tool.lineage.audit] disable must be a list of rule slugs")
        rules = raw.get("rules", {})
        if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
            raise ConfigError("[tool.lineage.audit.rules.SLUG] entries must be tables")
        known = load()
        for slug in [*disabled, *rules]:
            if slug not in known:
                raise ConfigError(f"[tool.lineage.audit] names unknown rule {slug!r}; see 'lineage rules'")
        return cls(fail_on, frozenset(disabled),
                   {k: {kk.replace("-", "_"): vv for kk, vv in v.items()} for k, v in rules.items()})

    def instantiate(self, only: list[str] | None = None) -> list[Rule]:
        out = []
        for slug, cls in sorted(load().items()):
            if only is not None and slug not in only:
                continue
            if slug in self.disabled and only is None:
                continue
            rule = cls(self.rules.get(slug))
            if rule.enabled or only is not None:
                out.append(rule)
        return out


# -- the report -------------------------------------------------------------------

@dataclass(frozen=True)
class AuditReport:
    runs: list[dict[str, Any]]
    findings: list[Finding]
    rules: list[str]
    fail_on: str
    #: how the audit ran: ``engine`` ("in-memory" or "out-of-core (duckdb)": where the
    #: overlap joins ran), the memory budget and the estimated bytes of keys
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        active = [f for f in self.findings if not f.waived]
        counts = {s.name: sum(1 for f in active if f.severity == s.name) for s in reversed(Severity)}
        return {**counts, "waived": sum(1 for f in self.findings if f.waived), "runs": len(self.runs),
                "rules": len(self.rules), "findings": len(self.findings), "fail_on": self.fail_on,
                "failed": self.exit_code() == 1}

    def exit_code(self, fail_on: str | None = None) -> int:
        """1 when an unwaived finding is at or above ``fail_on`` (default: the configured level)."""
        level = fail_on or self.fail_on
        if level == "never":
            return 0
        threshold = Severity.parse(level)
        return int(any(not f.waived and f.level >= threshold for f in self.findings))

    def to_dict(self) -> dict[str, Any]:
        out = {"runs": self.runs, "findings": [f.to_dict() for f in self.findings],
               "summary": self.summary, "rules": self.rules}
        return {**out, "meta": self.meta} if self.meta else out


# -- which runs ---------------------------------------------------------------------

def select_runs(repo: Repo, run_refs: list[str] | None = None, *, all_runs: bool = False,
                since: str | None = None, test_set: str | None = None) -> list[str]:
    """Run IDs to audit: given runs or artifacts, every run, runs started since a git ref or
    time, or every run that scored on a test set.

    An argument that is not a run but a file or folder on disk (a model, say) selects the
    runs that wrote that content and the runs that read it (those that scored the model),
    under whatever name they recorded it. ``test_set`` selects every run that read the
    content of that path as its ``test`` input.
    """
    given = sum(bool(x) for x in (run_refs, all_runs, since, test_set))
    if given != 1:
        raise UsageError("give RUN_ID|PATH..., --all, --since REF or --test-set PATH (exactly one of them)")
    if test_set:
        return _scored_on(repo, test_set)
    if run_refs:
        ids: list[str] = []
        for ref in run_refs:
            run_id = _runs.try_resolve(repo, ref)
            if run_id is None and os.path.exists(ref):
                sids = _recorded_as(repo, ref)
                found = _runqueries.writers(repo.graph, sids) + [
                    r["run_id"] for r in _runqueries.readers(repo.graph, sids)]
                if not found:
                    raise UsageError(f"no recorded run wrote or read the content of {ref}")
                ids += found
            else:
                ids.append(run_id if run_id is not None else _runs.resolve(repo, ref))
        return list(dict.fromkeys(ids))
    if all_runs:
        return gaudit.run_ids(repo.graph)
    return _since(repo, since or "")


#: the share of a test set's rows another file must hold to count as the same test set
TEST_SET_CONTAINMENT = 0.9


def _scored_on(repo: Repo, path: str) -> list[str]:
    """Every run that read the content of ``path`` as its ``test`` input: the same files
    under any name, or a file holding at least 90 % of its rows (re-exported: another format,
    columns re-ordered, rows shuffled)."""
    if not Path(path).exists():
        raise UsageError(f"{path}: no such file or folder")
    try:
        sids = _recorded_as(repo, path)
    except UsageError:
        sids = []
    readers = [r for r in _runqueries.readers(repo.graph, sids) if r["role"] == "test"]
    from lineage.tabular import keys as _keys

    mine = _keys.path_keys(path)
    tests = gaudit.heldout_snapshots(repo.graph, ("test",))
    for sid, records in tests.items():
        if sid in sids or len(mine) == 0:
            continue
        if _keys.containment(mine, _keys.snapshot_keys(repo, sid)) >= TEST_SET_CONTAINMENT:
            readers += records
    started = {rid: row.get("started") or "" for rid, row in
               _runqueries.runs(repo.graph, {r["run_id"] for r in readers}).items()}
    ids = sorted({r["run_id"] for r in readers}, key=lambda rid: (started.get(rid, ""), rid))
    if not ids:
        raise UsageError(f"no recorded run used the content of {path} (its files or its rows) as its test set")
    return ids


def _recorded_as(repo: Repo, path: str) -> list[str]:
    """Snapshots holding exactly the content now at ``path`` (a file or a folder), under
    any name: a model or a test set is the same artifact wherever it was saved."""
    target = Path(os.path.abspath(path))
    if not target.exists():
        raise UsageError(f"{path}: no such file or folder")
    _, files = scan(target)
    key = content_key([hash_file(f.abspath, f.size) for f in files])
    sids = _runqueries.snapshots_with_content(repo.graph, key)
    if not sids:
        raise UsageError(f"the content of {path} was never recorded (no snapshot or run holds it)")
    return sids


#: the snapshots holding exactly the content now at a path (a model, a test set)
recorded_as = _recorded_as


def _since(repo: Repo, ref: str) -> list[str]:
    """Runs recorded since ``ref``: an ISO date/time, or a git commit
    (``lineage.snapshots.history.parse_since``, shared with ``log --since``).

    For a commit, a run belongs when it ran on that commit or a later one (``REF..HEAD``):
    work recorded on top of the last commit is what a commit hook must check. Runs
    recorded outside git count when they started after the commit.
    """
    since = parse_since(repo, ref)
    if since.commits is None:
        return gaudit.run_ids(repo.graph, since=since.time)
    return gaudit.runs_on_commits(repo.graph, set(since.commits), started_after=since.time)


# -- the audit ------------------------------------------------------------------------

def run(repo: Repo, run_ids: list[str], *, config: AuditConfig | None = None,
        only: list[str] | None = None, fail_on: str | None = None, verify: bool = True) -> AuditReport:
    """Evaluate the enabled rules (or just ``only``) against each run; waivers applied.

    Raises ``RuleError`` when a rule raises: the report would be incomplete; and
    ``IntegrityError`` when a table the rules read differs from the event log (not
    checked with ``verify=False``: dangerous, the report may then be fooled).
    """
    config = config or AuditConfig.load(repo)
    if only:
        known = load()
        unknown = [s for s in only if s not in known]
        if unknown:
            raise UsageError(f"unknown rule(s): {', '.join(unknown)}; see 'lineage rules'")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}")
    _check_trust(repo, verify=verify)
    rules = config.instantiate(only)
    ctx = AuditContext(repo, config)
    waived = _waivers.for_runs(repo, run_ids)
    findings: list[Finding] = []
    summaries = []
    try:
        ctx.plan(run_ids, [r.slug for r in rules])
        for rule in rules:  # each rule's reads start while the next rule says what it will read
            ctx.read_ahead([w for run_id in run_ids for w in _reads(rule, ctx, ctx.run(run_id))])
        for run_id in run_ids:
            record = ctx.run(run_id)
            summaries.append({"run_id": run_id, "kind": record.kind, "status": record.status,
                              "started": record.started, "user": record.user,
                              "git_commit": record.git.get("commit")})
            found: list[Finding] = []
            for rule in rules:
                found += _check(rule, ctx, record)
            findings += _waivers.apply(group_by_cause(found), waived)
    finally:
        ctx.close()
    findings.sort(key=lambda f: (-f.level, f.run_id, f.rule))
    return AuditReport(summaries, findings, [r.slug for r in rules], fail_on or config.fail_on, ctx.meta)


def group_by_cause(findings: list[Finding]) -> list[Finding]:
    """One cause, one finding: findings of one run whose evidence names the same ``cause``
    are reported once, by the most severe of them (ties: the first), with the others in
    its evidence under ``related`` (rule, severity, message)."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        cause = f.evidence.get("cause")
        if cause:
            groups.setdefault(cause, []).append(f)
    if not any(len(g) > 1 for g in groups.values()):
        return findings
    out = []
    for f in findings:
        group = groups.get(f.evidence.get("cause") or "", [f])
        if len(group) == 1:
            out.append(f)
            continue
        root = max(group, key=lambda g: (g.level, -group.index(g)))
        if f is root:
            related = [{"rule": g.rule, "severity": g.severity, "message": g.message} for g in group if g is not f]
            out.append(Finding(f.rule, f.severity, f.run_id, f.message, {**f.evidence, "related": related}))
    return out


def _check(rule: Rule, ctx: AuditContext, record: _runs.RunRecord) -> list[Finding]:
    try:
        return rule.check(ctx, record)
    except LineageError:
        raise  # the repository's own errors (a missing object, a busy database) say it better
    except Exception as exc:  # noqa: BLE001 - any bug in a rule, a plug-in's included
        raise RuleError(rule.slug, record.run_id, exc) from exc


def _reads(rule: Rule, ctx: AuditContext, record: _runs.RunRecord) -> list[tuple[str, str]]:
    """What the rule will read, to read it ahead: nothing when it cannot say (reading ahead
    only saves time; the same problem is raised by its ``check``, in rule order)."""
    try:
        return list(rule.reads(ctx, record))
    except Exception:  # noqa: BLE001 - see above
        return []


def _check_trust(repo: Repo, *, verify: bool) -> None:
    """Refuse to audit tables that are not what the event log gives.

    First the schema (a rewritten auditor view or a planted trigger changes what every
    rule sees; milliseconds), then every projection table against the kept replay of
    the log (``integrity.check_audit_tables``: only the events since the last audit are
    replayed). A row deleted or changed with plain sqlite3 would otherwise turn a
    finding into a PASS.
    """
    problems = integrity.check_schema(repo.graph)
    if problems:
        named = ", ".join(p.table for p in problems[:3])
        raise IntegrityError(f"the lineage database schema was altered ({named}); the audit would not "
                             "be trustworthy: run 'lineage verify'")
    if not verify:
        return
    tables = integrity.check_audit_tables(repo.graph)
    if tables:
        first = tables[0]
        more = f"; also {', '.join(p.table for p in tables[1:4])}" if len(tables) > 1 else ""
        raise IntegrityError(f"table {first.table} differs from the event log ({first.detail}{more}); "
                             "run 'lineage rebuild'")
