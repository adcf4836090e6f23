"""Fixtures for the hook tests: a clean checkout of this repository and a pre-commit home.

pre-commit builds one virtualenv per (repository, revision) and pip-installs lineage
into it from PyPI, which is slow; every test of a session shares one
PRE_COMMIT_HOME and one revision, so that build happens once.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True, env=env)


def _shared(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every xdist worker of this run shares (pre-commit locks its own store)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / name


@pytest.fixture(scope="session")
def lineage_checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding this working tree as one commit, and that commit.

    Like ``pre-commit try-repo`` on a dirty tree: tracked and untracked files that
    are not ignored. Being clean, it lets pre-commit cache one environment.
    """
    from filelock import FileLock

    src = _shared(tmp_path_factory, "lineage-src")
    with FileLock(str(src) + ".lock"):
        if not (src / ".git").is_dir():
            _copy_tree(src)
    sha = git(src, "rev-parse", "HEAD").stdout.strip()
    return src, sha


def _copy_tree(src: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if rel.startswith((".venv/", "lineage.egg-info/")) or not (ROOT / rel).is_file():
            continue
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    git(src, "init", "-q", "-b", "main", env=env)
    git(src, "add", "-A", env=env)
    git(src, "-c", "user.name=Lineage Tests", "-c", "user.email=tests@example.com",
        "-c", "commit.gpgsign=false", "commit", "-q", "-m", "working tree", env=env)


@pytest.fixture(scope="session")
def precommit_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables shared by every pre-commit call of the run."""
    home = _shared(tmp_path_factory, "pre-commit-home")
    home.mkdir(parents=True, exist_ok=True)
    # the tests' HOME is a fresh folder; keep pip's download cache in the user's real one
    real_home = pwd.getpwuid(os.getuid()).pw_dir
    cache = os.environ.get("PIP_CACHE_DIR") or os.path.join(real_home, ".cache", "pip")
    return {"PRE_COMMIT_HOME": str(home), "PIP_CACHE_DIR": cache}


def run_precommit(cwd: Path, extra_env: dict[str, str], *args: str,
                  timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra_env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    return subprocess.run([str(BIN / "pre-commit"), *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=timeout)


def commit(cwd: Path, message: str = "change", extra_env: dict[str, str] | None = None,
           *args: str) -> subprocess.CompletedProcess[str]:
    """``git commit`` as a person types it, hooks and all."""
    env = {**os.environ, **(extra_env or {}), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    return subprocess.run(["git", "commit", "-m", message, *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=900)


def audit_available() -> bool:
    """Whether this tree has ``lineage audit`` (the audit hook delegates to it)."""
    from lineage.cli.app import COMMAND_MODULES

    return any(m.endswith(".audit") for m in COMMAND_MODULES)
