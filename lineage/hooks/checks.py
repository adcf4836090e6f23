"""Commit-time checks: the logic behind the pre-commit hooks and ``install-hooks``.

Each check returns a :class:`HookResult` listing its problems, each with the one
command that fixes it. The checks are cheap by design: ``status`` trusts the
stat cache, ``guard`` only looks at sizes and names, and ``audit`` works from the
fingerprints recorded at snapshot time, never by rereading data. Heavy modules
(typer, rich, sqlite_utils, pyarrow) are never imported here, so a hook starts in
well under a second.

``install`` and ``uninstall`` write plain git hooks that call the same checks,
for teams that do not use the pre-commit framework.

    >>> result = hooks.check_status(repo)       # doctest: +SKIP
    >>> result.ok, [p.fix for p in result.problems]  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import stat as _stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lineage import config as _config
from lineage.core import git
from lineage.errors import ConfigError, ConflictError, LineageError, UsageError
from lineage.hooks import queries as ghooks
from lineage.log import Graph
from lineage.repo import DIRNAME, Repo

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
        return "\n".join(lines)


def _quote(path: str) -> str:
    return shlex.quote(path)


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
        if s.state == "clean":
            continue
        where = s.path or "."
        name_opt = "" if s.dataset == where else f" --name {_quote(s.dataset)}"
        if s.state == "missing":
            problems.append(Problem(
                "missing", where, f"{s.dataset} ({where}): the path is gone but the dataset is tracked",
                f"lineage checkout {_quote(s.dataset)}@latest", s.dataset))
            continue
        counts = [f"{len(v)} {k}" for k, v in (("modified", s.modified), ("added", s.added),
                                               ("removed", s.removed)) if v]
        # manifest paths are relative to a dataset folder; show them from the repository root
        base = "" if where == "." or not os.path.isdir(repo.abspath(where)) else where + "/"
        files = tuple([f"M {base}{f}" for f in s.modified] + [f"A {base}{f}" for f in s.added]
                      + [f"D {base}{f}" for f in s.removed])
        problems.append(Problem(
            "changed" if s.snapshot else "untracked", where,
            f"{s.dataset} ({where}): {', '.join(counts)} since snapshot "
            f"{(s.snapshot or '')[:12]} (version {s.version})",
            f"lineage snapshot {_quote(where)}{name_opt}", s.dataset, files))
    n = len(found)
    if problems:
        summary = (f"{len(problems)} of {n} tracked dataset(s) changed since the last snapshot; "
                   "snapshot them so this commit records the data it goes with")
    else:
        summary = f"{n} tracked dataset(s) match their last snapshot"
    return HookResult("status", n, tuple(problems), summary)


# -- guard ------------------------------------------------------------------------

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_DATA_DIRS = ("data", "datasets")
DEFAULT_EXTENSIONS = (
    # tabular
    ".csv", ".tsv", ".parquet", ".pq", ".feather", ".arrow", ".ipc", ".jsonl", ".ndjson",
    ".avro", ".orc", ".xlsx", ".xls", ".h5", ".hdf5", ".nc", ".zarr", ".db", ".sqlite",
    # arrays, models and archives
    ".npy", ".npz", ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".safetensors",
    ".onnx", ".bin", ".tfrecord", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z",
    # media
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".wav", ".flac", ".mp3", ".mp4",
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(value: str | int) -> int:
    """Bytes from ``1048576``, ``"500KB"``, ``"5 MB"`` or ``"2GiB"`` (binary units)."""
    if isinstance(value, bool):
        raise ConfigError(f"invalid size {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"invalid size {value!r}: it must not be negative")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ConfigError(f"invalid size {value!r}; write it like 500KB, 5MB or 1048576")
    unit = (m.group(2) or "").lower()[:1]
    return int(float(m.group(1)) * _UNITS[unit])


def _size_text(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


@dataclass(frozen=True)
class GuardConfig:
    """``[tool.lineage.guard]``: what counts as data that belongs under lineage, not git."""

    max_size: int = DEFAULT_MAX_SIZE
    data_dirs: tuple[str, ...] = DEFAULT_DATA_DIRS
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    allow: tuple[str, ...] = ()   # glob patterns never flagged
    tracked: bool = True          # flag files inside a dataset lineage already tracks

    def to_dict(self) -> dict[str, Any]:
        return {"max_size": self.max_size, "data_dirs": list(self.data_dirs),
                "extensions": list(self.extensions), "allow": list(self.allow),
                "tracked": self.tracked}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardConfig:
        """From a settings table; keys may use ``-`` or ``_``; unknown keys are refused."""
        known = {"max_size", "data_dirs", "extensions", "extra_extensions", "allow", "tracked"}
        norm = {str(k).replace("-", "_"): v for k, v in d.items()}
        unknown = sorted(set(norm) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) in [tool.lineage.guard]: {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")

        def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = norm.get(key, default)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[tool.lineage.guard] {key} must be a list of strings")
            return tuple(value)

        exts = strings("extensions", DEFAULT_EXTENSIONS) + strings("extra_extensions", ())
        tracked = norm.get("tracked", True)
        if not isinstance(tracked, bool):
            raise ConfigError("[tool.lineage.guard] tracked must be true or false")
        return cls(
            parse_size(norm.get("max_size", DEFAULT_MAX_SIZE)),
            tuple(p.strip("/") for p in strings("data_dirs", DEFAULT_DATA_DIRS)),
            tuple(_norm_ext(e) for e in exts),
            strings("allow", ()),
            tracked,
        )

    @classmethod
    def load(cls, root: Path) -> GuardConfig:
        table = _config.pyproject_settings(root).get("guard", {})
        if not isinstance(table, dict):
            raise ConfigError("[tool.lineage.guard] in pyproject.toml must be a table")
        return cls.from_dict(table)


def _norm_ext(ext: str) -> str:
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else "." + ext


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``lineage.core.git.run``, where a hook cannot go on without git's answer."""
    out = git.run(root, *args, stdin=stdin)
    if out is None:
        raise LineageError(f"cannot run git {args[0]} in {root} (is git installed?)")
    return out


def git_toplevel(start: Path) -> Path:
    out = _git(start, "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise UsageError(f"not inside a git work tree: {start}")
    return Path(out.stdout.decode().strip())


def staged_files(root: Path) -> list[tuple[str, int]]:
    """Added, copied, modified or renamed paths in the index, with their staged size."""
    out = _git(root, "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z")
    if out.returncode != 0:
        raise LineageError("git diff --cached failed: " + out.stderr.decode(errors="replace").strip())
    paths = [p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
    if not paths:
        return []
    # sizes of the staged blobs (what the commit will hold), in one git call
    query = "".join(f":{p}\n" for p in paths).encode("utf-8", "surrogateescape")
    sizes = _git(root, "cat-file", "--batch-check=%(objectsize)", stdin=query)
    lines = sizes.stdout.decode().splitlines()
    result = []
    for p, line in zip(paths, lines):
        result.append((p, int(line) if line.strip().isdigit() else 0))
    return result


def _lfs_files(root: Path, paths: list[str]) -> set[str]:
    """Paths git stores through the LFS filter (their blobs are small pointers)."""
    if not paths:
        return set()
    out = _git(root, "check-attr", "-z", "filter", "--stdin",
               stdin="\0".join(paths).encode("utf-8", "surrogateescape") + b"\0")
    if out.returncode != 0:
        return set()
    parts = out.stdout.decode("utf-8", "surrogateescape").split("\0")
    return {parts[i] for i in range(0, len(parts) - 2, 3) if parts[i + 2] == "lfs"}


def _tracked_paths(root: Path) -> list[tuple[str, str]]:
    """(dataset, path) of every dataset lineage tracks, when ``.lineage/`` exists."""
    if not (root / DIRNAME / "lineage.db").exists():
        return []
    from lineage.snapshots import queries  # lazy: only where .lineage/ exists

    graph = Graph.open(root / DIRNAME / "lineage.db", readonly=True)
    try:
        return [(r.name, r.path) for r in queries.tracked_datasets(graph) if r.path]
    finally:
        graph.close()


def check_guard(root: Path, files: list[tuple[str, int]], config: GuardConfig | None = None) -> HookResult:
    """Fail on staged files that are data: too large, or data formats under a data folder.

    ``files`` holds (path relative to ``root``, size in bytes) pairs. Data kept in
    git bloats every clone forever and has no lineage; snapshot it instead.
    """
    cfg = config or GuardConfig.load(root)
    lfs = _lfs_files(root, [p for p, size in files if size > cfg.max_size])
    tracked = _tracked_paths(root) if cfg.tracked else []
    problems: list[Problem] = []
    owned: dict[str, list[str]] = {}
    for path, size in files:
        posix = path.replace(os.sep, "/")
        if any(fnmatch.fnmatch(posix, pat) for pat in cfg.allow):
            continue
        name = posix.rsplit("/", 1)[-1]
        # ".tar.gz" and ".csv.gz": any suffix of the name counts
        suffixes = {"." + s for s in name.lower().split(".")[1:]}
        in_data_dir = next((d for d in cfg.data_dirs
                            if posix == d or posix.startswith(d + "/") or f"/{d}/" in f"/{posix}"), None)
        owner = next((ds for ds, p in tracked if p != "." and (posix == p or posix.startswith(p + "/"))),
                     None)
        untrack = f"git rm --cached {_quote(posix)}"
        if owner is not None:
            owned.setdefault(owner, []).append(posix)
        elif size > cfg.max_size and posix not in lfs:
            problems.append(Problem(
                "large", posix,
                f"{posix}: {_size_text(size)}, over the {_size_text(cfg.max_size)} limit for git",
                f"{untrack} && echo {_quote('/' + posix)} >> .gitignore && lineage snapshot "
                f"{_quote(posix)}"))
        elif in_data_dir is not None and suffixes & set(cfg.extensions):
            problems.append(Problem(
                "data-format", posix,
                f"{posix}: a data file ({', '.join(sorted(suffixes & set(cfg.extensions)))}) "
                f"under {in_data_dir}/",
                f"{untrack} && echo {_quote('/' + posix)} >> .gitignore && lineage snapshot "
                f"{_quote(posix)}"))
    for owner, paths in owned.items():
        where = dict(tracked)[owner]
        problems.append(Problem(
            "tracked-data", where, f"{where}: {len(paths)} staged file(s) of dataset {owner!r}, "
            "which lineage already tracks",
            f"git rm -r --cached {_quote(where)} && echo {_quote('/' + where)} >> .gitignore && "
            f"lineage snapshot {_quote(where)}" + ("" if owner == where else f" --name {_quote(owner)}"),
            owner, tuple(paths)))
    n = len(files)
    if problems:
        flagged = sum(max(1, len(p.files)) for p in problems)
        summary = (f"{flagged} staged file(s) are data that belongs under lineage, not in git "
                   "(allow a path with [tool.lineage.guard] allow = [...])")
    else:
        summary = f"{n} staged file(s) checked, no data files"
    return HookResult("guard", n, tuple(problems), summary)


# -- verify -----------------------------------------------------------------------

def check_verify(repo: Repo) -> HookResult:
    """Rehash every local object and check the event log's hash links."""
    from lineage.sync import verify as verification  # lazy: only the verify hook needs it

    report = verification.verify(repo)
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
        if _git(root, "rev-parse", "--verify", "--quiet", ref + "^{commit}").returncode == 0:
            args += ["--since", ref]
        elif since is not None:
            raise UsageError(f"--since {since}: not a git commit")
        else:
            args.append("--all")
    args += ["--format", fmt]
    return args + (["--fail-on", fail_on] if fail_on else [])


def staged_paths(root: Path) -> list[str]:
    """Every path the index changes (deletions included), relative to ``root``."""
    out = _git(root, "diff", "--cached", "--name-only", "-z")
    if out.returncode != 0:
        return []
    return [p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def runs_behind_staged(repo: Repo, root: Path) -> list[str]:
    """Runs whose outputs the commit stages (a model file, a metrics file, a report).

    Committing a run's output vouches for that run, however long ago it was recorded.
    """
    staged = staged_paths(root)
    if not staged:
        return []
    return ghooks.runs_writing(repo.graph, [repo.relpath(root / p) for p in staged])


# -- plain git hooks ----------------------------------------------------------------

MARKER = "# lineage install-hooks"
BACKUP_SUFFIX = ".lineage-backup"
#: The checks a plain git pre-commit hook runs, in order.
DEFAULT_CHECKS = ("status", "guard", "audit")
CHECK_COMMANDS = {
    "status": "status",
    "guard": "guard --staged",
    "audit": "audit",
    "verify": "verify",
}


@dataclass(frozen=True)
class InstalledHook:
    name: str          # the git hook: pre-commit, pre-push
    path: str
    action: str        # installed | replaced | unchanged | removed | restored | absent | skipped
    checks: tuple[str, ...] = ()
    backup: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checks"] = list(self.checks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstalledHook:
        return cls(d["name"], d["path"], d["action"], tuple(d.get("checks", ())), d.get("backup"))


@dataclass(frozen=True)
class InstallResult:
    hooks_dir: str
    hooks_path_config: str | None   # core.hooksPath when set
    hooks: tuple[InstalledHook, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"hooks_dir": self.hooks_dir, "hooks_path_config": self.hooks_path_config,
                "hooks": [h.to_dict() for h in self.hooks]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstallResult:
        return cls(d["hooks_dir"], d.get("hooks_path_config"),
                   tuple(InstalledHook.from_dict(h) for h in d.get("hooks", ())))


def hooks_dir(root: Path) -> tuple[Path, str | None]:
    """Where git looks for hooks (honouring ``core.hooksPath``), and that setting."""
    cfg = _git(root, "config", "--get", "core.hooksPath")
    configured = cfg.stdout.decode().strip() or None if cfg.returncode == 0 else None
    out = _git(root, "rev-parse", "--git-path", "hooks")
    if out.returncode != 0:
        raise UsageError(f"not inside a git repository: {root}")
    path = Path(out.stdout.decode().strip())
    if configured:
        # git resolves a relative core.hooksPath against the work tree root
        path = Path(os.path.expanduser(configured))
    if not path.is_absolute():
        path = root / path
    return path, configured


def hook_script(name: str, checks: tuple[str, ...], python: str | None = None) -> str:
    """A POSIX shell git hook that runs ``checks`` through ``lineage-hook``.

    It prefers the interpreter that installed it (so a virtualenv need not be
    active when committing), then ``lineage-hook`` on PATH. Every check runs, so
    one commit attempt reports every problem.
    """
    py = python or sys.executable
    lines = [
        "#!/bin/sh",
        f"{MARKER}: {name} (remove with 'lineage install-hooks --remove')",
        "# Skip once with 'git commit --no-verify', or set LINEAGE_SKIP_HOOKS=1.",
        '[ -n "$LINEAGE_SKIP_HOOKS" ] && exit 0',
        f"LINEAGE_PYTHON={shlex.quote(py)}",
        "# the interpreter that installed this hook first, then lineage-hook on PATH",
        'if [ -x "$LINEAGE_PYTHON" ] && "$LINEAGE_PYTHON" -c "import lineage.hooks.main" 2>/dev/null; then',
        '    lineage_hook() { "$LINEAGE_PYTHON" -m lineage.hooks.main "$@"; }',
        "elif command -v lineage-hook >/dev/null 2>&1; then",
        '    lineage_hook() { lineage-hook "$@"; }',
        "else",
        "    echo \"lineage: cannot find lineage-hook; install lineage or rerun"
        " 'lineage install-hooks'\" >&2",
        "    exit 1",
        "fi",
        "rc=0",
    ]
    lines += [f"lineage_hook {CHECK_COMMANDS[c]} || rc=1" for c in checks]
    lines += ['exit "$rc"', ""]
    return "\n".join(lines)


def _owned(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return MARKER.encode() in fh.read(4096)
    except OSError:
        return False


def _write_executable(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".lineage-tmp")
    tmp.write_text(text)
    mode = os.stat(tmp).st_mode
    os.chmod(tmp, mode | _stat.S_IXUSR | _stat.S_IXGRP | _stat.S_IXOTH)
    os.replace(tmp, path)


def install(root: Path, *, checks: tuple[str, ...] = DEFAULT_CHECKS, pre_push_verify: bool = False,
            force: bool = False, python: str | None = None) -> InstallResult:
    """Write git hooks calling ``lineage-hook``; an existing foreign hook needs ``force``.

    A replaced hook is kept next to it as ``<hook>.lineage-backup`` and restored by
    :func:`uninstall`.
    """
    unknown = [c for c in checks if c not in CHECK_COMMANDS]
    if unknown:
        raise UsageError(f"unknown check(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(CHECK_COMMANDS)}")
    if not checks and not pre_push_verify:
        raise UsageError("nothing to install: give at least one check")
    top = git_toplevel(root)
    folder, configured = hooks_dir(top)
    wanted: list[tuple[str, tuple[str, ...]]] = []
    if checks:
        wanted.append(("pre-commit", tuple(dict.fromkeys(checks))))
    if pre_push_verify:
        wanted.append(("pre-push", ("verify",)))
    # refuse before writing anything, so a refusal changes nothing
    for name, _ in wanted:
        target = folder / name
        if (target.exists() or target.is_symlink()) and not _owned(target) and not force:
            hint = (" (it was written by the pre-commit framework: add lineage to "
                    ".pre-commit-config.yaml instead)") if _mentions_pre_commit(target) else ""
            raise ConflictError(f"{target} exists and was not written by lineage{hint}; "
                                "pass --force to replace it (it is kept as a backup)")
    folder.mkdir(parents=True, exist_ok=True)
    done: list[InstalledHook] = []
    for name, these in wanted:
        target = folder / name
        text = hook_script(name, these, python)
        backup = None
        if target.exists() or target.is_symlink():
            if _owned(target):
                action = "unchanged" if target.read_text(errors="replace") == text else "replaced"
            else:
                backup_path = target.with_name(name + BACKUP_SUFFIX)
                os.replace(target, backup_path)
                backup, action = str(backup_path), "replaced"
        else:
            action = "installed"
        if action != "unchanged":
            _write_executable(target, text)
        done.append(InstalledHook(name, str(target), action, these, backup))
    return InstallResult(str(folder), configured, tuple(done))


def _mentions_pre_commit(path: Path) -> bool:
    try:
        head = path.read_bytes()[:8192]
    except OSError:
        return False
    return b"pre-commit" in head and b"INSTALL_PYTHON" in head


def uninstall(root: Path) -> InstallResult:
    """Remove the hooks lineage wrote, restoring any hook they had replaced."""
    top = git_toplevel(root)
    folder, configured = hooks_dir(top)
    done: list[InstalledHook] = []
    for name in ("pre-commit", "pre-push"):
        target = folder / name
        backup = target.with_name(name + BACKUP_SUFFIX)
        if not (target.exists() or target.is_symlink()):
            done.append(InstalledHook(name, str(target), "absent"))
            continue
        if not _owned(target):
            done.append(InstalledHook(name, str(target), "skipped"))
            continue
        if backup.exists() or backup.is_symlink():
            os.replace(backup, target)
            done.append(InstalledHook(name, str(target), "restored", backup=str(backup)))
        else:
            target.unlink()
            done.append(InstalledHook(name, str(target), "removed"))
    return InstallResult(str(folder), configured, tuple(done))
