"""Shared fixtures: a temporary git work tree with lineage initialised, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")
    (path / "README").write_text("test repo\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", "initial")
    return path


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


class CLI:
    """Runs the lineage CLI in-process (fast) with a given working folder."""

    def __init__(self, cwd: Path, capsys: pytest.CaptureFixture[str]):
        self.cwd = cwd
        self.capsys = capsys

    def __call__(self, *args: str, cwd: Path | None = None) -> Result:
        from lineage.cli.app import main

        old = os.getcwd()
        os.chdir(cwd or self.cwd)
        self.capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        finally:
            os.chdir(old)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


def run_subprocess(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``lineage`` as a real process (for signals, exit codes, start-up)."""
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=cwd, capture_output=True,
                          text=True, **kwargs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that starts SeaweedFS (uses the ``s3`` fixture, directly or through
    another fixture) carries the ``s3`` marker, so ``-m "not s3"`` really skips them."""
    for item in items:
        if "s3" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LINEAGE_DIR", raising=False)
    monkeypatch.delenv("LINEAGE_RUN_ID", raising=False)
    monkeypatch.setenv("LINEAGE_USER", "Test User <test@example.com>")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A git work tree with one commit and an initialised .lineage/."""
    from lineage.repo import Repo

    path = make_git_repo(tmp_path / "work")
    Repo.init(path)
    return path


@pytest.fixture
def repo(workdir: Path):
    from lineage.repo import Repo

    r = Repo.find(workdir)
    yield r
    r.close()


@pytest.fixture
def cli(workdir: Path, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(workdir, capsys)


def validate(instance: Any, schema_name: str) -> None:
    """Validate ``instance`` against ``schemas/<schema_name>``."""
    import jsonschema

    schema = json.loads((SCHEMAS / schema_name).read_text())
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
    return root


@pytest.fixture
def reference(monkeypatch):
    """Run a function on the numpy path of the tabular code (the compiled kernels switched off)."""
    def run(fn, *args, **kwargs):
        monkeypatch.setenv("LINEAGE_NO_JIT", "1")
        try:
            return fn(*args, **kwargs)
        finally:
            monkeypatch.delenv("LINEAGE_NO_JIT")
    return run
