"""Commit-time checks: the logic behind ``lineage-hook status``, ``verify`` and ``audit``.

Each check returns a :class:`HookResult` listing its problems, each with the one
command that fixes it. The checks are cheap by design: ``status`` trusts the
stat cache, and ``audit`` works from the fingerprints recorded at snapshot time,
never by rereading data. Heavy modules (typer, rich, sqlite_utils, pyarrow) are
never imported here, so a hook starts in well under a second. The guard on
staged data files lives in :mod:`lineage.hooks.guard`; plain git hooks are
written by :mod:`lineage.hooks.install`.

    >>> result = checks.check_status(repo)       # doctest: +SKIP
    >>> result.ok, [p.fix for p in result.problems]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from shlex import quote
from typing import Any

from lineage.core import git
from lineage.errors import LineageError, UsageError
from lineage.hooks import queries as ghooks
from lineage.repo import Repo

#: Problems listed in full before the rest are counted ("and 12 more").
SHOWN = 10


# -- results ----------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing a hook objects to, and the command that fixes it."""

    kind: str        # changed | missing | untracked | large | data-format | tracked-data | object | log
    path: str        # the file or dataset path concerned
    message: str     # one line for people
    fix: str | None = None
    dataset: str | None = None
    files: tuple[str, ...] = ()   # files behind the problem (changed files of a dataset)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = list(self.files)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(d["kind"], d["path"], d["message"], d.get("fix"), d.get("dataset"),
                   tuple(d.get("files", ())))


@dataclass(frozen=True)
class HookResult:
    """What one hook found: ``ok`` when nothing stands in the way of the commit."""

    hook: str
    checked: int
    problems: tuple[Problem, ...] = ()
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fix(self) -> str | None:
        """One command that fixes every problem: their fixes, in order, joined with ``&&``."""
        fixes = list(dict.fromkeys(p.fix for p in self.problems if p.fix))
        return " && ".join(fixes) if fixes else None

    def to_dict(self) -> dict[str, Any]:
        return {"hook": self.hook, "ok": self.ok, "checked": self.checked,
                "summary": self.summary, "problems": [p.to_dict() for p in self.problems]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HookResult:
        return cls(d["hook"], d["checked"], tuple(Problem.from_dict(p) for p in d.get("problems", ())),
                   d.get("summary", ""))

    def render(self) -> str:
        """Plain text for a terminal or a pre-commit log (no colour, no rich)."""
        if self.ok:
            return f"lineage-{self.hook}: {self.summary}" if self.summary else ""
        lines = [f"lineage-{self.hook}: {self.summary}"]
        for p in self.problems:
            lines.append(f"  {p.message}")
            lines.extend(f"      {f}" for f in p.files[:SHOWN])
            if len(p.files) > SHOWN:
                lines.append(f"      ... and {len(p.files) - SHOWN} more")
            if p.fix:
                lines.append(f"    fix: {p.fix}")
        fixes = list(dict.fromkeys(p.fix for p in self.problems if p.fix))
        if len(fixes) > 1:  # the last line fixes everything above it
            lines.append(f"fix all: {self.fix}")
        return "\n".join(lines)


# -- status -----------------------------------------------------------------------

def check_status(repo: Repo, targets: list[str] | None = None) -> HookResult:
    """Fail when a tracked dataset changed since its last snapshot.

    A commit made now would tie code to data that no snapshot records. Unchanged
    files are vouched for by the stat cache, so nothing is reread.
    """
    from lineage import snapshots  # lazy: the guard hook never needs it

    found = []
    for t in targets or [None]:
        found.extend(snapshots.status(repo, t))
    problems: list[Problem] = []
    for s in found:
        if not s.dirty:  # clean, or only a partial pull (the files not fetched are recorded)
            continue
        where = s.path or "."
        if s.state == "missing":
            problems.append(Problem(
                "missing", where, f"{s.dataset} ({where}): the path is gone but the dataset is tracked",
                status_fix([s]), s.dataset))
            continue
        counts = [f"{len(v)} {k}" for k, v in (("modified", s.modified), ("added", s.added),
                                               ("removed", s.removed)) if v]
        # manifest paths are relative to a dataset folder; show them from the repository root
        base = "" if where == "." or not os.path.isdir(repo.abspath(where)) else where + "/"
        files = tuple([f"M {base}{f}" for f in s.modified] + [f"A {base}{f}" for f in s.added]
                      + [f"D {base}{f}" for f in s.removed])
        # compared with what was checked out there (an older version, as git with HEAD)
        since = (f"since snapshot {(s.snapshot or '')[:12]} (version {s.version}"
                 + (f", checked out; latest is {s.latest_version}" if getattr(s, "behind", False) else "")
                 + ")")
        if s.not_fetched:  # a snapshot now would record the files not fetched as removed
            since += (f", after a partial pull ({len(s.not_fetched)} file(s) not fetched: "
                      "pull them before a snapshot)")
        problems.append(Problem(
            "changed" if s.snapshot else "untracked", where,
            f"{s.dataset} ({where}): {', '.join(counts)} {since}",
            status_fix([s]), s.dataset, files))
    n = len(found)
    if problems:
        summary = (f"{len(problems)} of {n} tracked dataset(s) changed since the last snapshot; "
                   "snapshot them so this commit records the data it goes with")
    else:
        summary = f"{n} tracked dataset(s) match their last snapshot"
    return HookResult("status", n, tuple(problems), summary)


def status_fix(found: list[Any]) -> str | None:
    """The one command that brings every dirty dataset of ``found`` (``snapshots.status``
    items) back in line: ``lineage snapshot PATH [--name NAME]`` for each changed one,
    ``lineage checkout NAME@latest`` for each missing one, joined with ``&&``. A changed
    dataset a partial pull left incomplete first fetches the rest
    (``lineage pull ID --path FILE...``, which leaves the local edits alone): a snapshot
    before would record a version without the files not fetched.
    """
    steps = []
    for s in found:
        if not s.dirty:
            continue
        where = s.path or "."
        if s.state == "missing":
            steps.append(f"lineage checkout {quote(s.dataset)}@latest")
        else:
            if getattr(s, "not_fetched", None) and s.snapshot:
                steps.append(f"lineage pull {s.snapshot[:12]} "
                             + " ".join(f"--path {quote(p)}" for p in s.not_fetched))
            steps.append(f"lineage snapshot {quote(where)}"
                         + ("" if s.dataset == where else f" --name {quote(s.dataset)}"))
    return " && ".join(dict.fromkeys(steps)) or None


# -- git --------------------------------------------------------------------------

def run_git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``lineage.core.git.run``, where a hook cannot go on without git's answer."""
    out = git.run(root, *args, stdin=stdin)
    if out is None:
        raise LineageError(f"cannot run git {args[0]} in {root} (is git installed?)")
    return out


def git_toplevel(start: Path) -> Path:
    out = run_git(start, "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise UsageError(f"not inside a git work tree: {start}")
    return Path(out.stdout.decode().strip())


def staged_files(root: Path) -> list[tuple[str, int]]:
    """Added, copied, modified or renamed paths in the index, with their staged size."""
    out = run_git(root, "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z")
    if out.returncode != 0:
        raise LineageError("git diff --cached failed: " + out.stderr.decode(errors="replace").strip())
    paths = [p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
    if not paths:
        return []
    # sizes of the staged blobs (what the commit will hold), in one git call
    query = "".join(f":{p}\n" for p in paths).encode("utf-8", "surrogateescape")
    sizes = run_git(root, "cat-file", "--batch-check=%(objectsize)", stdin=query)
    lines = sizes.stdout.decode().splitlines()
    result = []
    for p, line in zip(paths, lines):
        result.append((p, int(line) if line.strip().isdigit() else 0))
    return result

# -- verify -----------------------------------------------------------------------

def check_verify(repo: Repo) -> HookResult:
    """Rehash every local object and check the event log's hash links."""
    from lineage.sync import verify as verification  # lazy: only the verify hook needs it

    report = verification.verify(repo, references=False)  # local only: no network in a hook
    problems = [
        Problem("object", o.digest, f"object {o.digest[:12]} is {o.problem} "
                f"(snapshots {', '.join(s[:12] for s in o.snapshots) or 'none'})",
                "lineage pull" if o.problem == "missing" else "lineage pull (after removing the "
                f"corrupt object {o.digest[:12]})", None, tuple(o.files))
        for o in report.objects
    ]
    problems += [Problem("log", ".lineage/lineage.db", f"event log: {msg}", None) for msg in report.log]
    summary = (f"{len(problems)} problem(s) in {report.objects_checked} objects and "
               f"{report.events_checked} events" if problems else
               f"{report.objects_checked} objects and {report.events_checked} events verified")
    return HookResult("verify", report.objects_checked + report.events_checked, tuple(problems), summary)


# -- audit ------------------------------------------------------------------------

FAIL_LEVELS = ("critical", "error", "warning", "info", "never")


def audit_args(root: Path, *, fail_on: str | None = None, all_runs: bool = False,
               since: str | None = None, fmt: str = "text") -> list[str]:
    """The ``lineage audit`` arguments for a commit: the runs recorded since the last commit.

    Before the first commit there is nothing to be "since", so every run is audited.
    Without ``fail_on`` the audit's configured level applies (default ``error``).
    """
    if fail_on is not None and fail_on not in FAIL_LEVELS:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_LEVELS)}, not {fail_on!r}")
    args = ["audit"]
    if all_runs:
        args.append("--all")
    else:
        ref = since or "HEAD"
        if run_git(root, "rev-parse", "--verify", "--quiet", ref + "^{commit}").returncode == 0:
            args += ["--since", ref]
        elif since is not None:
            raise UsageError(f"--since {since}: not a git commit")
        else:
            args.append("--all")
    args += ["--format", fmt]
    return args + (["--fail-on", fail_on] if fail_on else [])


def staged_paths(root: Path) -> list[str]:
    """Every path the index changes (deletions included), relative to ``root``."""
    out = run_git(root, "diff", "--cached", "--name-only", "-z")
    if out.returncode != 0:
        return []
    return [p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def runs_behind_staged(repo: Repo, root: Path, files: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Runs whose outputs the commit stages (a model file, a metrics file, a report), or
    that wrote one of ``files`` (paths relative to ``root``, as pre-commit passes them).

    Committing a run's output vouches for that run, however long ago it was recorded.
    """
    paths = list(dict.fromkeys([*staged_paths(root), *files]))
    if not paths:
        return []
    return ghooks.runs_writing(repo.graph, [repo.relpath(root / p) for p in paths])


def root_relative(root: Path, path: str) -> str:
    """``path`` (relative to the current folder, as pre-commit passes it) from ``root``."""
    return Path(os.path.relpath(os.path.abspath(path), root)).as_posix()


def all_run_ids(repo: Repo) -> list[str]:
    """Every recorded run: what ``lineage audit --all`` audits."""
    return [r[0] for r in repo.graph.conn.execute("SELECT run_id FROM runs")]


def audit_hook_text(doc: dict[str, Any], total_runs: int, *, whole_tree: bool = False,
                    width: int = 80) -> str:
    """The audit hook's report: ``lineage audit``'s text for ``doc`` (its JSON form), a
    note when runs were left out (``lineage audit --all`` audits them), and, when the
    audit fails, the commands that fix it: the one that shows every piece of evidence,
    and last the waivers that accept the failing findings once the reason is written in.
    """
    from lineage.audit import formats  # lazy: only the audit hook needs it
    from lineage.audit.rules import Severity

    report = formats.report_from_dict(doc)
    lines = [formats.text(report, width=width).rstrip("\n")]
    audited = {r["run_id"] for r in report.runs}
    left = max(0, total_runs - len(audited))
    if left:
        lines.append(f"lineage-audit: {left} older run(s) were not audited (recorded before the "
                     "last commit, and no file of this commit came from them); "
                     "'lineage audit --all' audits every run")
    elif whole_tree:
        lines.append("lineage-audit: every run was audited (the hook was given files the "
                     "index does not stage, as pre-commit run --all-files does)")
    if report.exit_code():
        threshold = Severity.parse(report.fail_on)
        failing = list(dict.fromkeys((f.rule, f.run_id) for f in report.findings
                                     if not f.waived and f.level >= threshold))
        runs = " ".join(dict.fromkeys(run for _, run in failing))
        lines.append(f"  every piece of evidence: lineage audit {runs} --format text --verbose")
        lines.append("  fix the pipeline and record the runs again, or accept the findings with "
                     "a reason (it is kept in the log):")
        lines.append("fix: " + " && ".join(
            f'lineage waive {rule} {run} --reason "WHY"' for rule, run in failing))
    return "\n".join(lines) + "\n"
