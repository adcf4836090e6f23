"""Snapshot hooks and reference schemes: features plug into snapshots, never the reverse."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.errors import UnknownRefError
from lineage.snapshots import hooks, refs


def _fresh_python(code: str, cwd: Path) -> str:
    """Run ``code`` in a new interpreter: nothing imported but what it imports itself."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_tabular_hook_runs_when_only_snapshots_is_imported(workdir):
    write_tree(workdir / "data", {"t.csv": "a,b\n1,2\n3,4\n"})
    out = _fresh_python("""
        import sys
        from lineage.repo import Repo
        from lineage import snapshots
        assert "lineage.tabular" not in sys.modules
        with Repo.find() as repo:
            snapshots.create(repo, "data", name="d")
            n = repo.graph.conn.execute("SELECT count(*) FROM tabular_files").fetchone()[0]
        print(n)
    """, workdir)
    assert out == "1"


def test_help_imports_neither_snapshots_nor_tabular_nor_dvc(workdir):
    out = _fresh_python("""
        import importlib, sys
        sys.argv = ["lineage", "--help"]
        try:
            importlib.import_module("lineage.cli.app").run()
        except SystemExit:
            pass
        print("loaded:" + ",".join(m for m in ("lineage.snapshots", "lineage.tabular", "lineage.interop.dvc")
                       if m in sys.modules))
    """, workdir)
    assert out.splitlines()[-1] == "loaded:"


def test_a_registered_hook_adds_events_and_warnings(repo, workdir, monkeypatch):
    seen: list[list[str]] = []

    def hook(repo, files, declarations, progress):
        seen.append(sorted(rel for rel, _, _ in files))
        return hooks.Contribution([("dataset.declare", {"name": "extra", "path": None, "columns": {}})],
                                  ["from the test hook"])

    monkeypatch.setattr(hooks, "_HOOKS", [*hooks.registered(), hook])
    write_tree(workdir / "data", {"a.txt": "1", "sub/b.txt": "2"})
    result = snapshots.create(repo, workdir / "data", name="d")
    assert seen == [["data/a.txt", "data/sub/b.txt"]]
    assert "from the test hook" in result.warnings
    types = [r[0] for r in repo.graph.conn.execute("SELECT type FROM events ORDER BY seq")]
    assert types.index("dataset.declare") < types.index("snapshot")  # appended before the snapshot


def test_a_hook_registered_twice_runs_once(monkeypatch):
    monkeypatch.setattr(hooks, "_HOOKS", [])

    def hook(*_args):
        return hooks.Contribution()

    hooks.register(hook)
    hooks.register(hook)
    assert hooks._HOOKS == [hook]


def test_reference_schemes_are_registered_by_their_feature(repo, monkeypatch):
    assert "md5" in refs.schemes()  # lineage.interop.dvc
    monkeypatch.setitem(refs._SCHEMES, "test", lambda repo, value: value * 2)
    assert snapshots.resolve(repo, "test:ab") == "abab"
    with pytest.raises(UnknownRefError):
        snapshots.resolve(repo, "nosuchscheme:ab")  # not a scheme: resolved as a name, which fails
