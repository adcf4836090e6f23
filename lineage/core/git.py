"""What git says about the working tree: commit, branch, dirty flag, identity."""

from __future__ import annotations

import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lineage.core.hashing import hash_bytes


@dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    dirty: bool | None
    #: BLAKE3 of ``git diff HEAD`` when the tree is dirty, so the exact code can be told apart.
    diff_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GitState:
        return cls(d.get("commit"), d.get("branch"), d.get("dirty"), d.get("diff_digest"))


NO_GIT = GitState(None, None, None)


def run(root: Path, *args: str, stdin: bytes | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[bytes] | None:
    """``git ARGS`` in ``root``: bytes out, C locale, no optional locks (so a status never
    blocks a concurrent commit). None when git cannot be run at all; the caller decides
    whether that is an error."""
    try:
        return subprocess.run(
            ["git", *args], cwd=root, input=stdin, capture_output=True, timeout=timeout,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def text(root: Path, *args: str, timeout: float = 60) -> str | None:
    """Stripped stdout of ``git ARGS`` when it succeeds, else None."""
    out = run(root, *args, timeout=timeout)
    if out is None or out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", "replace").strip()


_git = run


def toplevel(start: Path) -> Path | None:
    """The root of the git work tree holding ``start``, if any."""
    out = _git(start, "rev-parse", "--show-toplevel")
    if out is None or out.returncode != 0:
        return None
    return Path(out.stdout.decode().strip())


def state(root: Path, *, with_diff: bool = False) -> GitState:
    """Commit, branch and dirty flag of the work tree at ``root`` (untracked files ignored)."""
    out = _git(root, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if out is None or out.returncode != 0:
        return NO_GIT
    commit = branch = None
    dirty = False
    for line in out.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    digest = None
    if dirty and with_diff and commit:
        diff = _git(root, "diff", "HEAD", "--binary")
        if diff is not None and diff.returncode == 0:
            digest = hash_bytes(diff.stdout)
    return GitState(commit, branch, dirty, digest)


def identity(root: Path) -> str | None:
    """``Name <email>`` from git config, when set."""
    name = _git(root, "config", "user.name")
    email = _git(root, "config", "user.email")
    n = name.stdout.decode().strip() if name and name.returncode == 0 else ""
    e = email.stdout.decode().strip() if email and email.returncode == 0 else ""
    if n and e:
        return f"{n} <{e}>"
    return n or e or None


