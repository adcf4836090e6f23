"""What git says about the working tree: commit, branch, dirty flag (untracked code files
included on request), diff digest, identity."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.core.hashing import hash_bytes, hash_file
from lineage.errors import PathError


#: Untracked files are hashed into a dirty run's diff digest up to this many bytes in all;
#: files beyond it enter the digest by path and size only, and the digest is marked partial.
UNTRACKED_HASH_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    dirty: bool | None
    #: BLAKE3 of ``git diff HEAD`` (plus the untracked code files, when any) when the tree
    #: is dirty, so the exact code can be told apart.
    diff_digest: str | None = None
    #: untracked code files counted as dirty (None: untracked files were not looked at)
    untracked: int | None = None
    #: True when some untracked files were too large to hash: the digest names them by
    #: path and size only
    diff_partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"commit": self.commit, "branch": self.branch, "dirty": self.dirty,
                             "diff_digest": self.diff_digest}
        # optional keys, present only when they say something (older bodies lack them)
        if self.untracked:
            d["untracked"] = self.untracked
        if self.diff_partial:
            d["diff_partial"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GitState:
        return cls(d.get("commit"), d.get("branch"), d.get("dirty"), d.get("diff_digest"),
                   d.get("untracked"), bool(d.get("diff_partial", False)))


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


def state(root: Path, *, with_diff: bool = False, untracked: bool = False,
          data_paths: Iterable[str | Path] = ()) -> GitState:
    """Commit, branch and dirty flag of the work tree at ``root``.

    A tracked file changed or staged makes the tree dirty. With ``untracked``, so does an
    untracked code file: a file git does not track and ``.gitignore`` does not ignore,
    outside ``.lineage/`` and outside ``data_paths`` (the files and directories lineage
    keeps as data, relative to ``root`` or absolute). With ``with_diff``, a dirty tree
    also gets ``diff_digest``: BLAKE3 of ``git diff HEAD --binary``, followed (when there
    are untracked code files) by each one's path, size and content digest, in path order,
    within ``UNTRACKED_HASH_LIMIT`` bytes hashed.
    """
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    out = _git(root, "status", "--porcelain=v2", "-z", "--branch", mode)
    if out is None or out.returncode != 0:
        return NO_GIT
    commit = branch = None
    dirty = False
    candidates: list[str] = []
    fields = out.stdout.decode("utf-8", "surrogateescape").split("\0")
    skip = False
    for line in fields:
        if skip:  # the original path of a rename or copy entry
            skip = False
            continue
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif line.startswith("? "):
            candidates.append(line[2:])
        elif line and not line.startswith("#"):
            dirty = True
            skip = line.startswith("2 ")
    top, code = _untracked_code(root, candidates, data_paths) if candidates else (root, [])
    if code:
        dirty = True
    digest = None
    partial = False
    if dirty and with_diff and commit:
        diff = _git(root, "diff", "HEAD", "--binary")
        if diff is not None and diff.returncode == 0:
            digest, partial = _digest(diff.stdout, top, code)
    return GitState(commit, branch, dirty, digest, len(code) if untracked else None, partial)


#: What an untracked file must look like to count as code: source, notebooks, scripts and
#: the configuration that steers them. Data files (CSV, Parquet, images, models) a run is
#: about to read or write are untracked too, and are not code.
CODE_SUFFIXES = frozenset({
    ".py", ".pyx", ".pxd", ".ipynb", ".r", ".rmd", ".jl", ".sh", ".bash", ".zsh", ".sql",
    ".scala", ".java", ".kt", ".go", ".rs", ".c", ".cc", ".cpp", ".h", ".hpp", ".js", ".ts",
    ".m", ".lua", ".pl", ".rb", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".conf",
})
CODE_NAMES = frozenset({"Makefile", "Dockerfile", "Snakefile", "Justfile", "dvc.yaml", "MLproject"})


def is_code_file(rel: str) -> bool:
    name = rel.rstrip("/").rsplit("/", 1)[-1]
    return name in CODE_NAMES or os.path.splitext(name)[1].lower() in CODE_SUFFIXES


def _untracked_code(root: Path, candidates: list[str],
                    data_paths: Iterable[str | Path]) -> tuple[Path, list[str]]:
    """The top of the work tree, and the untracked paths (relative to it) that are code:
    source or configuration by name (``CODE_SUFFIXES``), not under ``.lineage/`` and not
    inside a path lineage keeps as data."""
    out = _git(root, "rev-parse", "--show-toplevel")
    if out is None or out.returncode != 0:
        return root, []
    top = Path(out.stdout.decode("utf-8", "surrogateescape").strip())
    base = Path(os.path.abspath(root))
    excluded: set[str] = set()
    for p in (".lineage", *data_paths):
        a = Path(os.path.abspath(base / p))
        try:
            excluded.add(a.relative_to(top).as_posix())
        except ValueError:
            try:  # the top as git resolves it (symlinked temp directories)
                excluded.add(a.resolve().relative_to(top.resolve()).as_posix())
            except ValueError:
                continue
    code = []
    for rel in candidates:
        if not is_code_file(rel):
            continue
        parts = rel.rstrip("/").split("/")
        if not any("/".join(parts[:k]) in excluded for k in range(1, len(parts) + 1)):
            code.append(rel)
    return top, sorted(code)


def _digest(diff: bytes, top: Path, untracked: list[str]) -> tuple[str, bool]:
    """BLAKE3 of the diff, then of the untracked files (path, size, content digest);
    True when the byte budget left some files named by path and size only."""
    if not untracked:
        return hash_bytes(diff), False
    parts = [diff, b"\0untracked\0"]
    budget = UNTRACKED_HASH_LIMIT
    partial = False
    for rel in untracked:
        path = top / rel
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        content = "-"
        if 0 <= size <= budget:
            try:
                content = hash_file(path, size)
                budget -= size
            except PathError:
                content = "unreadable"
        elif size > budget:
            partial = True
        parts.append(f"{rel}\0{size}\0{content}\n".encode("utf-8", "surrogateescape"))
    return hash_bytes(b"".join(parts)), partial


def identity(root: Path) -> str | None:
    """``Name <email>`` from git config, when set."""
    name = _git(root, "config", "user.name")
    email = _git(root, "config", "user.email")
    n = name.stdout.decode().strip() if name and name.returncode == 0 else ""
    e = email.stdout.decode().strip() if email and email.returncode == 0 else ""
    if n and e:
        return f"{n} <{e}>"
    return n or e or None


