"""``lineage install-hooks``: plain git hooks calling ``lineage-hook``, and their removal.

For teams that do not use the pre-commit framework. ``lineage-hook`` never
imports this module, so a commit does not pay for it.
"""

from __future__ import annotations

import os
import shlex
import stat as _stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lineage.errors import ConflictError, UsageError
from lineage.hooks.checks import git_toplevel, run_git

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
    cfg = run_git(root, "config", "--get", "core.hooksPath")
    configured = cfg.stdout.decode().strip() or None if cfg.returncode == 0 else None
    out = run_git(root, "rev-parse", "--git-path", "hooks")
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
