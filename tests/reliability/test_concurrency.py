"""Concurrent lineage processes in one clone: each succeeds or says "busy, retry".

Real processes started at once (``subprocess.Popen``), a real folder remote, and real
SQLite and flock locks held by the test where a deterministic interleaving is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import make_git_repo, write_tree

from .conftest import lineage_proc


def _start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, **(env or {})}
    full.pop("LINEAGE_FAULT", None)
    return subprocess.Popen([sys.executable, "-m", "lineage", *args], cwd=cwd, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _all(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    outputs = [p.communicate(timeout=120) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


def _clean(stderr: str) -> None:
    """No traceback and no internal error ever reaches the user."""
    assert "Traceback" not in stderr
    assert "unexpected" not in stderr
    assert "IntegrityError" not in stderr and "UNIQUE constraint" not in stderr


def _verify_ok(cwd: Path) -> None:
    v = lineage_proc(["verify"], cwd)
    assert v.returncode == 0, v.stdout + v.stderr


def test_four_concurrent_snapshots_of_one_folder_record_one_version(workdir: Path):
    data = write_tree(workdir / "data", {f"part/{i:03}.txt": f"row {i}\n" for i in range(300)})
    for round_ in (1, 2):
        results = _all([_start(["snapshot", "data", "--json"], workdir) for _ in range(4)])
        for code, out, err in results:
            assert code == 0, err
            _clean(err)
        outs = [json.loads(out) for _, out, _ in results]
        assert len({o["id"] for o in outs}) == 1
        assert {o["version"] for o in outs} == {round_}  # the same content is one version
        assert sum(not o["unchanged"] for o in outs) == 1  # recorded once, by one of them
        log = json.loads(lineage_proc(["log", "data", "--json"], workdir).stdout)["snapshots"]
        assert [e["version"] for e in log] == list(range(round_, 0, -1))
        (data / "part" / "000.txt").write_text("changed\n")
    _verify_ok(workdir)


def _remote_with_history(tmp_path: Path, workdir: Path) -> Path:
    """A folder remote holding five versions of a dataset (set up in-process: fast)."""
    from lineage import snapshots
    from lineage.sync import remotes
    from lineage.sync import push as sync_push
    from lineage.repo import Repo

    remote = tmp_path / "remote"
    write_tree(workdir / "data", {f"{i:03}.csv": f"a,b\n{i},{i * 2}\n" for i in range(40)})
    with Repo.find(workdir) as repo:
        for i in range(5):
            (workdir / "data" / "000.csv").write_text(f"a,b\n0,{i}\n")
            snapshots.create(repo, workdir / "data")
        remotes.add(repo, "nas", str(remote), default=True)
        sync_push.push(repo)
    return remote


def _fresh_clone(path: Path, remote: Path) -> Path:
    from lineage.sync import remotes
    from lineage.repo import Repo

    make_git_repo(path)
    repo, _ = Repo.init(path)
    with repo:
        remotes.add(repo, "nas", str(remote), default=True)
    return path


def test_three_concurrent_pulls_all_succeed_or_say_busy(tmp_path: Path, workdir: Path):
    remote = _remote_with_history(tmp_path, workdir)
    want = json.loads(lineage_proc(["log", "data", "--json"], workdir).stdout)["snapshots"]
    for round_ in range(2):  # a race shows up in some rounds only: give it two
        clone = _fresh_clone(tmp_path / f"clone{round_}", remote)
        results = _all([_start(["pull"], clone) for _ in range(3)])
        for code, _out, err in results:
            _clean(err)
            assert code == 0 or (code == 2 and "busy" in err and "retry" in err), err
        assert any(code == 0 for code, _, _ in results)
        _verify_ok(clone)
        got = json.loads(lineage_proc(["log", "data", "--json"], clone).stdout)["snapshots"]
        assert [(e["snapshot"], e["version"]) for e in got] == [(e["snapshot"], e["version"]) for e in want]


def test_merging_events_another_process_merged_meanwhile_is_a_no_op(tmp_path: Path, workdir: Path):
    """The interleaving of two pulls, made exact: while one process reads the events it
    will merge, another merges the same events and commits."""
    from lineage.log import Graph
    from lineage.repo import Repo

    write_tree(workdir / "data", {"a.txt": "a", "b.txt": "b"})
    for text in ("1", "2", "3"):
        (workdir / "data" / "a.txt").write_text(text)
        assert lineage_proc(["snapshot", "data"], workdir).returncode == 0
    with Repo.find(workdir) as source:
        events = list(source.graph.events())
    clone = make_git_repo(tmp_path / "clone")
    Repo.init(clone)
    db = clone / ".lineage" / "lineage.db"
    mine, other = Graph.open(db), Graph.open(db)
    try:
        def arriving():
            yield events[0]
            assert other.ingest(events) == len(events)  # the other pull wins the race
            yield from events[1:]

        assert mine.ingest(arriving()) == 0
        assert mine.count_events() == len(events)
        assert mine.verify_log() == []
        assert mine.heads() == other.heads()
    finally:
        mine.close()
        other.close()


def test_a_writer_held_up_by_another_process_says_busy_after_a_bounded_wait(workdir: Path):
    write_tree(workdir / "data", {"a.txt": "a"})
    holder = sqlite3.connect(workdir / ".lineage" / "lineage.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        proc = lineage_proc(["snapshot", "data"], workdir, env={"LINEAGE_LOCK_TIMEOUT": "1"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: the repository is busy (another lineage process holds it); retry"
    again = lineage_proc(["snapshot", "data"], workdir)  # the retry it asked for works
    assert again.returncode == 0, again.stderr
    _verify_ok(workdir)


def test_a_snapshot_waits_for_gc_then_says_busy(workdir: Path):
    write_tree(workdir / "data", {"a.txt": "a"})
    fd = os.open(workdir / ".lineage" / "store.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what a gc in progress holds
        proc = lineage_proc(["snapshot", "data"], workdir, env={"LINEAGE_LOCK_TIMEOUT": "1"})
    finally:
        os.close(fd)
    assert proc.returncode == 2
    assert "busy" in proc.stderr and "retry" in proc.stderr
    _clean(proc.stderr)
    assert json.loads(lineage_proc(["log", "--json"], workdir).stdout)["snapshots"] == []
    assert lineage_proc(["snapshot", "data"], workdir).returncode == 0


def test_concurrent_wrapped_runs_are_all_recorded(workdir: Path):
    write_tree(workdir / "data", {f"{i}.txt": str(i) for i in range(50)})
    results = _all([_start(["run", "--kind", "train", "--input", "train=data", "--",
                            sys.executable, "-c", "pass"], workdir) for _ in range(3)])
    for code, _out, err in results:
        assert code == 0, err
        _clean(err)
    runs = json.loads(lineage_proc(["log", "--runs", "--json"], workdir).stdout)["runs"]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert len(json.loads(lineage_proc(["log", "data", "--json"], workdir).stdout)["snapshots"]) == 1
    _verify_ok(workdir)


def test_concurrent_inits_all_succeed(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "w")
    results = _all([_start(["init"], root) for _ in range(6)])
    for code, _, err in results:
        _clean(err)
        assert code == 0, err
    assert not [p for p in (root / ".lineage").iterdir() if p.name.endswith(".tmp")]
    assert lineage_proc(["remote", "list"], root).returncode == 0
