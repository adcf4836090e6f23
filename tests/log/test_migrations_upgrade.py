"""Upgrading a database that holds data, from every earlier schema version.

A clone made by an earlier version has its event log and the tables of the migrations
it knew. Opening it with this version applies the missing migrations and rebuilds
the derived tables from the log: the result must equal a database made by this version
from the start, table by table, and the audit must say the same.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_git_repo, write_tree


def _lineage(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A repository with snapshots, declarations, tabular records, runs, metrics and a waiver."""
    root = make_git_repo(tmp_path_factory.mktemp("ref") / "work")
    assert _lineage(root, "init").returncode == 0
    rows = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(200))
    write_tree(root / "data", {"train.csv": "id,x,y\n" + rows, "test.csv": "id,x,y\n" + rows[:400]})
    for name in ("train", "test"):
        r = _lineage(root, "snapshot", f"data/{name}.csv", "--name", name, "--label-column", "y")
        assert r.returncode == 0, r.stderr
    write_tree(root, {"model.txt": "weights\n", "train.py": "print('not committed yet')\n"})  # dirty code
    r = _lineage(root, "run", "--kind", "train", "--input", "train=data/train.csv", "--output", "model.txt",
                 "--param", "lr=0.1", "--json", "--", sys.executable, "-c", "pass")
    assert r.returncode == 0, r.stderr
    train_run = json.loads(r.stdout)["run_id"]
    r = _lineage(root, "run", "--kind", "evaluate", "--input", "model=model.txt", "--input", "test=data/test.csv",
                 "--json", "--", sys.executable, "-c", "pass")
    assert r.returncode == 0, r.stderr
    r = _lineage(root, "waive", "dirty-code", train_run, "--reason", "notebook run")
    assert r.returncode == 0, r.stderr
    r = _lineage(root, "waive", "no-test-set", train_run, "--reason", "tried", "--force", "--json")
    assert r.returncode == 0, r.stderr
    assert _lineage(root, "waive", "--revoke", "no-test-set", train_run).returncode == 0
    audit = json.loads(_lineage(root, "audit", "--all", "--format", "json").stdout)
    (root.parent / "audit.json").write_text(json.dumps(audit["findings"]))
    return root


def _tables(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: sorted(map(repr, conn.execute(f'SELECT * FROM "{n}"'))) for n in names}
    finally:
        conn.close()


def _versions() -> list[int]:
    from lineage.log import migrations

    migrations.load()
    return [number for number, _, _ in migrations.MIGRATIONS]


@pytest.mark.parametrize("version", _versions()[:-1])
def test_a_database_from_every_earlier_version_upgrades_to_the_same_tables(reference, tmp_path, version):
    from lineage.log import migrations

    clone = tmp_path / "clone"
    shutil.copytree(reference, clone, ignore=shutil.ignore_patterns("lineage.db*", "state.db*"))
    old = clone / ".lineage" / "lineage.db"
    conn = sqlite3.connect(old, isolation_level=None)
    kept = list(migrations.MIGRATIONS)
    migrations.MIGRATIONS[:] = [m for m in kept if m[0] <= version]
    try:
        assert migrations.migrate(conn)[-1] == version
    finally:
        migrations.MIGRATIONS[:] = kept
    src = sqlite3.connect(reference / ".lineage" / "lineage.db")
    events = src.execute("SELECT id, type, time, actor, parents, body FROM events ORDER BY seq").fetchall()
    src.close()
    conn.executemany("INSERT INTO events (id, type, time, actor, parents, body) VALUES (?, ?, ?, ?, ?, ?)", events)
    conn.executemany("INSERT OR IGNORE INTO event_parents (parent, child) VALUES (?, ?)",
                     [(p, e[0]) for e in events for p in json.loads(e[4])])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    conn.close()

    assert _lineage(clone, "status").returncode == 0  # opening upgrades and rebuilds
    assert _tables(old) == _tables(reference / ".lineage" / "lineage.db")
    check = _lineage(clone, "verify")
    assert check.returncode == 0, check.stdout + check.stderr
    before = json.loads((reference.parent / "audit.json").read_text())
    after = json.loads(_lineage(clone, "audit", "--all", "--format", "json").stdout)
    assert after["findings"] == before and before
