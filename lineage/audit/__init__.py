"""The audit: evaluate every enabled rule against recorded runs and produce a report.

    >>> report = audit.run(repo, ["01JC..."])       # doctest: +SKIP
    >>> report.exit_code("error")                   # 1 when a finding is at or above error

Rules work from the graph and from stored fingerprints and profiles, never by
rereading data. The context caches what several rules share (run records, upstream
runs, fingerprint arrays), so a rule asks for what it needs and pays once.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lineage import config as _config
from lineage import runs as _runs
from lineage.errors import ConfigError, IntegrityError, LineageError, UsageError
from lineage.audit import queries as gaudit
from lineage.repo import Repo
from lineage.audit.rules import Finding, Rule, Severity, load

from lineage.core.vocab import HELDOUT_ROLES, LEARNING_KINDS  # noqa: E402
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


# -- the context rules read from --------------------------------------------------

class AuditContext:
    """What rules ask the repository, cached for the length of one audit."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._runs: dict[str, _runs.RunRecord] = {}
        self._upstream: dict[str, list[_runs.RunRecord]] = {}
        self._fps: dict[tuple[str, str], Any] = {}
        self._tables: dict[str, Any] = {}
        self._profiles: dict[str, Any] = {}

    @property
    def graph(self):
        return self.repo.graph

    def run(self, run_id: str) -> _runs.RunRecord:
        if run_id not in self._runs:
            self._runs[run_id] = _runs.get(self.repo, run_id)
        return self._runs[run_id]

    def upstream(self, run_id: str) -> list[_runs.RunRecord]:
        """Runs upstream of ``run_id`` (through the snapshots it read), oldest first."""
        if run_id not in self._upstream:
            self._upstream[run_id] = [self.run(r) for r in gaudit.upstream_run_ids(self.graph, run_id)]
        return self._upstream[run_id]

    @cached_property
    def final_scorings(self) -> list[dict[str, Any]]:
        return gaudit.final_scorings(self.graph)

    def heldout_inputs(self, run: _runs.RunRecord, roles: tuple[str, ...] = HELDOUT_ROLES):
        return [i for i in run.inputs if i.role in roles]

    def training_inputs(self, run: _runs.RunRecord) -> list[tuple[_runs.RunInput, _runs.RunRecord]]:
        """(input, run) for every ``train``-role input of this run and of the learning runs
        upstream of it: the rows a model behind this run was trained on."""
        out = []
        for r in [*self.upstream(run.run_id), run]:
            if r is run or r.kind in LEARNING_KINDS:
                out += [(i, r) for i in r.inputs if i.role == "train"]
        return out

    # -- data, from stored fingerprints and profiles ------------------------------
    def fingerprints(self, snapshot_id: str):
        """The snapshot's fingerprint table (pyarrow), computed once per audit."""
        if snapshot_id not in self._tables:
            from lineage.tabular import load_fingerprints

            self._tables[snapshot_id] = load_fingerprints(self.repo, snapshot_id)
        return self._tables[snapshot_id]

    def keys(self, snapshot_id: str, column: str = "fp"):
        """(row positions, 16-byte keys as a numpy void array) of non-null ``column`` values."""
        if (snapshot_id, column) not in self._fps:
            self._fps[(snapshot_id, column)] = fingerprint_keys(self.fingerprints(snapshot_id), column)
        return self._fps[(snapshot_id, column)]

    def profiles(self, snapshot_id: str) -> dict[str, dict[str, Any]]:
        """Merged column profiles of every readable tabular file of the snapshot."""
        if snapshot_id not in self._profiles:
            from lineage.tabular import load_profiles, merge_profiles

            per_file = load_profiles(self.repo, snapshot_id)
            self._profiles[snapshot_id] = merge_profiles(list(per_file.values())) if per_file else {}
        return self._profiles[snapshot_id]

    def describe_input(self, i: _runs.RunInput) -> dict[str, Any]:
        return {"snapshot": i.snapshot_id, "role": i.role, "dataset": i.dataset, "path": i.path}


def fingerprint_keys(table, column: str = "fp"):
    """Positions and 16-byte keys (numpy ``V16``) of the non-null values of ``column``."""
    import numpy as np

    col = table.column(column).combine_chunks()
    n = len(col)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="V16")
    values = np.frombuffer(col.buffers()[1], dtype="V16", count=n + col.offset)[col.offset:]
    if col.null_count:
        valid = np.asarray(col.is_valid())
        positions = np.nonzero(valid)[0]
        return positions, values[positions]
    return np.arange(n), values


def members(keys_a, keys_b):
    """Boolean mask over ``keys_b``: which 16-byte keys also occur in ``keys_a``.

    Vectorised: the first 8 bytes select candidates with ``np.isin`` on uint64, then
    the full 16 bytes of each candidate are compared exactly.
    """
    import numpy as np

    if len(keys_a) == 0 or len(keys_b) == 0:
        return np.zeros(len(keys_b), dtype=bool)
    a = np.ascontiguousarray(keys_a).view(np.uint64).reshape(-1, 2)
    b = np.ascontiguousarray(keys_b).view(np.uint64).reshape(-1, 2)
    cand = np.isin(b[:, 0], a[:, 0])
    if not cand.any():
        return cand
    idx = np.nonzero(cand)[0]
    a_full = np.unique(a[np.isin(a[:, 0], b[idx, 0])].view([("h", np.uint64), ("l", np.uint64)]).ravel())
    b_full = b[idx].view([("h", np.uint64), ("l", np.uint64)]).ravel()
    cand[idx] = np.isin(b_full, a_full)
    return cand


# -- the report -------------------------------------------------------------------

@dataclass(frozen=True)
class AuditReport:
    runs: list[dict[str, Any]]
    findings: list[Finding]
    rules: list[str]
    fail_on: str

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
        return {"runs": self.runs, "findings": [f.to_dict() for f in self.findings],
                "summary": self.summary, "rules": self.rules}


def select_runs(repo: Repo, run_refs: list[str] | None = None, *, all_runs: bool = False,
                since: str | None = None) -> list[str]:
    """Run IDs to audit: given references, every run, or runs started since a git ref or time."""
    given = sum(bool(x) for x in (run_refs, all_runs, since))
    if given != 1:
        raise UsageError("give RUN_ID..., --all or --since REF (exactly one of them)")
    if run_refs:
        return list(dict.fromkeys(_runs.resolve(repo, r) for r in run_refs))
    if all_runs:
        return gaudit.run_ids(repo.graph)
    return _since(repo, since or "")


def _since(repo: Repo, ref: str) -> list[str]:
    """Runs recorded since ``ref``: an ISO date/time, or a git commit.

    For a commit, a run belongs when it ran on that commit or a later one (``REF..HEAD``):
    work recorded on top of the last commit is what a commit hook must check. Runs
    recorded outside git count when they started after the commit.
    """
    try:
        when = _dt.datetime.fromisoformat(ref.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is not None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        return gaudit.run_ids(repo.graph, since=_iso(when))
    import subprocess

    def git(*args: str) -> str | None:
        proc = subprocess.run(["git", *args], cwd=repo.root, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    sha = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not sha:
        raise UsageError(f"--since: {ref!r} is neither a git commit nor an ISO date")
    later = set((git("rev-list", f"{sha}..HEAD") or "").split()) | {sha}
    when = _dt.datetime.fromisoformat(git("log", "-1", "--format=%cI", sha) or "")
    return gaudit.runs_on_commits(repo.graph, later, started_after=_iso(when))


def _iso(when: _dt.datetime) -> str:
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run(repo: Repo, run_ids: list[str], *, config: AuditConfig | None = None,
        only: list[str] | None = None, fail_on: str | None = None) -> AuditReport:
    """Evaluate the enabled rules (or just ``only``) against each run; waivers applied."""
    config = config or AuditConfig.load(repo)
    if only:
        known = load()
        unknown = [s for s in only if s not in known]
        if unknown:
            raise UsageError(f"unknown rule(s): {', '.join(unknown)}; see 'lineage rules'")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}")
    _check_schema(repo)
    rules = config.instantiate(only)
    ctx = AuditContext(repo)
    waived = gaudit.waivers(repo.graph, run_ids)
    findings: list[Finding] = []
    summaries = []
    for run_id in run_ids:
        record = ctx.run(run_id)
        summaries.append({"run_id": run_id, "kind": record.kind, "status": record.status,
                          "started": record.started, "user": record.user,
                          "git_commit": record.git.get("commit")})
        for rule in rules:
            try:
                found = rule.check(ctx, record)
            except LineageError:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
                found = [Finding(rule.slug, "error", run_id,
                                 f"rule {rule.slug} could not be evaluated: {type(exc).__name__}: {exc}",
                                 {"internal_error": True})]
            for f in found:
                w = waived.get((f.rule, f.run_id))
                if w is not None:
                    f = Finding(f.rule, f.severity, f.run_id, f.message, f.evidence, True, w)
                findings.append(f)
    findings.sort(key=lambda f: (-f.level, f.run_id, f.rule))
    return AuditReport(summaries, findings, [r.slug for r in rules], fail_on or config.fail_on)


# -- waivers -----------------------------------------------------------------------

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


def _check_schema(repo: Repo) -> None:
    """Refuse to audit through a rewritten auditor view or a planted trigger: they would
    change what every rule sees. Milliseconds; the full table check is `lineage verify`."""
    from lineage.log import integrity

    problems = integrity.check_schema(repo.graph)
    if problems:
        named = ", ".join(p.table for p in problems[:3])
        raise IntegrityError(f"the lineage database schema was altered ({named}); the audit would not "
                             "be trustworthy: run 'lineage verify'")


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
