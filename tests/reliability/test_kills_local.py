"""SIGKILL in the middle of local work: snapshot, pack write, gc, and ``lineage run``.

After each kill the next command finishes the work, ``lineage verify`` exits 0 and
nothing is half-recorded. A killed ``lineage run`` is marked ``aborted`` by the next
command that reads runs, and the command it wrapped does not outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import write_tree

from .conftest import killed, lineage_proc


def _verify_ok(cwd: Path) -> None:
    v = lineage_proc(["verify"], cwd)
    assert v.returncode == 0, v.stdout + v.stderr


def _log(cwd: Path, *args: str) -> list[dict]:
    return json.loads(lineage_proc(["log", *args, "--json"], cwd).stdout)["snapshots"]


def _runs(cwd: Path) -> list[dict]:
    proc = lineage_proc(["log", "--runs", "--json"], cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["runs"]


def _gone(pid: int, within: float = 5.0) -> bool:
    """The process has exited (a zombie waiting for a parent that never reaps counts)."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _packs(workdir: Path) -> tuple[set[str], set[str]]:
    packs = workdir / ".lineage" / "packs"
    names = os.listdir(packs) if packs.is_dir() else []
    return ({n[:-5] for n in names if n.endswith(".pack")}, {n[:-4] for n in names if n.endswith(".idx")})


# -- snapshot ----------------------------------------------------------------------

def test_snapshot_killed_after_storing_objects_records_nothing_and_reruns(workdir: Path):
    write_tree(workdir / "data", {f"{i:02}.txt": f"{i}\n" for i in range(30)})
    proc = lineage_proc(["snapshot", "data"], workdir, fault="snapshot.before_event")
    assert killed(proc)
    assert _log(workdir) == []  # objects stored, nothing recorded: no half snapshot
    _verify_ok(workdir)
    again = lineage_proc(["snapshot", "data", "--json"], workdir)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["version"] == 1
    assert [e["version"] for e in _log(workdir)] == [1]
    _verify_ok(workdir)


def test_snapshot_killed_mid_pack_write_reruns_and_gc_removes_the_stray_pack(workdir: Path):
    write_tree(workdir / "data", {f"{i:02}.txt": f"{i}\n" for i in range(30)})
    proc = lineage_proc(["snapshot", "data"], workdir, fault="store.pack_write")
    assert killed(proc)
    packs, indexes = _packs(workdir)
    assert packs - indexes  # the pack is in place, its index never came: invisible
    _verify_ok(workdir)
    again = lineage_proc(["snapshot", "data"], workdir)
    assert again.returncode == 0, again.stderr
    _verify_ok(workdir)
    gc = lineage_proc(["gc"], workdir)
    assert gc.returncode == 0, gc.stderr
    packs, indexes = _packs(workdir)
    assert packs == indexes
    assert lineage_proc(["checkout", "data@1", "copy"], workdir).returncode == 0
    assert sorted(os.listdir(workdir / "copy")) == sorted(os.listdir(workdir / "data"))
    _verify_ok(workdir)


# -- gc ----------------------------------------------------------------------------

def test_gc_killed_mid_delete_keeps_what_is_referenced_and_a_rerun_finishes(workdir: Path):
    big = {f"big{i}.bin": bytes([i]) * (1 << 20 | 1) for i in range(4)}  # loose objects
    write_tree(workdir / "kept", {"a.txt": "kept"})
    assert lineage_proc(["snapshot", "kept"], workdir).returncode == 0
    write_tree(workdir / "junk", big)
    # a snapshot killed before its event leaves stored objects nothing references: garbage
    assert killed(lineage_proc(["snapshot", "junk"], workdir, fault="snapshot.before_event"))
    proc = lineage_proc(["gc"], workdir, fault="gc.delete:2")
    assert killed(proc)
    _verify_ok(workdir)
    rerun = lineage_proc(["gc", "--json"], workdir)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["removed_count"] >= 3  # the rest of the four, and the manifest
    assert json.loads(lineage_proc(["gc", "--json"], workdir).stdout)["removed_count"] == 0
    assert lineage_proc(["checkout", "kept@1", "back"], workdir).returncode == 0
    assert (workdir / "back" / "a.txt").read_text() == "kept"
    _verify_ok(workdir)


# -- lineage run -------------------------------------------------------------------

SLEEPER = textwrap.dedent("""
    import os, sys, time
    with open(sys.argv[1], "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(60)
""")


def _wait_for_file(path: Path, within: float = 20.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_run_killed_after_its_start_is_marked_aborted_and_the_next_run_works(workdir: Path):
    write_tree(workdir / "data", {"a.txt": "a"})
    pidfile = workdir / "child.pid"
    proc = lineage_proc(["run", "--kind", "train", "--input", "train=data", "--",
                         sys.executable, "-c", SLEEPER, str(pidfile)], workdir,
                        fault="run.command_started")
    assert killed(proc)
    if pidfile.exists() and pidfile.read_text():
        assert _gone(int(pidfile.read_text()))  # the command died with its wrapper
    [run] = _runs(workdir)  # reading the runs is what notices the dead wrapper
    assert run["status"] == "aborted"
    show = lineage_proc(["show", run["run_id"], "--json"], workdir)
    assert "wrapper process" in json.loads(show.stdout)["error"]
    _verify_ok(workdir)
    nxt = lineage_proc(["run", "--kind", "train", "--input", "train=data", "--",
                        sys.executable, "-c", "pass"], workdir)
    assert nxt.returncode == 0, nxt.stderr
    assert [r["status"] for r in _runs(workdir)] == ["succeeded", "aborted"]
    _verify_ok(workdir)


def test_sigkill_of_the_wrapper_takes_the_command_with_it(workdir: Path):
    pidfile = workdir / "child.pid"
    env = {**os.environ}
    env.pop("LINEAGE_FAULT", None)
    wrapper = subprocess.Popen([sys.executable, "-m", "lineage", "run", "--kind", "train", "--",
                                sys.executable, "-c", SLEEPER, str(pidfile)],
                               cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        child = int(_wait_for_file(pidfile))
        assert not _gone(child, within=0)
        wrapper.send_signal(signal.SIGKILL)
        wrapper.wait(10)
        assert _gone(child), "the wrapped command outlived its killed wrapper"
    finally:
        wrapper.kill()
        wrapper.wait()
    [run] = _runs(workdir)
    assert run["status"] == "aborted"
    rec = json.loads(lineage_proc(["show", run["run_id"], "--json"], workdir).stdout)
    assert f"wrapper process {wrapper.pid}" in rec["error"]
    assert rec["ended"] is not None
    _verify_ok(workdir)


def test_sigterm_to_the_wrapper_reaches_the_commands_children(workdir: Path):
    """The command runs in a process group of its own: a forwarded signal reaches what it
    started too (a shell and its pipeline), not only the shell."""
    pidfile = workdir / "grandchild.pid"
    script = f"{sys.executable} -c '{SLEEPER}' {pidfile}; echo never"
    env = {**os.environ}
    env.pop("LINEAGE_FAULT", None)
    wrapper = subprocess.Popen([sys.executable, "-m", "lineage", "run", "--kind", "other", "--",
                                "sh", "-c", script], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        grandchild = int(_wait_for_file(pidfile))
        wrapper.send_signal(signal.SIGTERM)
        out, _ = wrapper.communicate(timeout=20)
    finally:
        wrapper.kill()
    assert wrapper.returncode == 128 + signal.SIGTERM
    assert "never" not in out
    assert _gone(grandchild)
    assert _runs(workdir)[0]["status"] == "aborted"


def test_a_python_process_killed_inside_lineage_run_leaves_an_aborted_run(workdir: Path):
    code = textwrap.dedent("""
        import os, signal, lineage
        with lineage.run(kind="train") as r:
            r.log_param("lr", 0.1)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ}
    env.pop("LINEAGE_FAULT", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    [run] = _runs(workdir)
    assert run["status"] == "aborted"
    _verify_ok(workdir)


def test_only_runs_whose_owner_is_gone_on_this_host_are_marked(workdir: Path):
    """Runs owned on another host are left alone; a PID reused by another process (same
    PID, another start time) or a restart does not keep a dead run alive; a live owner
    keeps it."""
    from lineage.core import process as _process
    from lineage.repo import Repo

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me, token = os.getpid(), _process.start_token()
    with Repo.find(workdir) as repo:
        def started(run_id: str, host: str, pid: int, start: str | None) -> None:
            # as such an event arrives from a pull, or from another process on this host
            body = {"run_id": run_id, "kind": "train", "command": None, "params": {},
                    "git": {"commit": None, "branch": None, "dirty": None, "diff_digest": None},
                    "user": "u", "host": host, "env": {}, "pid": pid}
            if start is not None:
                body["process_start"] = start
            repo.graph.append("run.start", body, actor="u")

        started("elsewhere", "another-host.example", dead.pid, None)
        started("dead-owner", repo.host, dead.pid, None)
        machine, boot, namespace, ticks = token.split(":")
        started("reused-pid", repo.host, me, f"{machine}:{boot}:{namespace}:{ticks}9")
        started("live-owner", repo.host, me, token)
        started("rebooted", repo.host, me, f"{machine}:another-boot:{namespace}:{ticks}")
        # what this process cannot judge: a PID of another container, or another machine
        # that shares the host name
        started("container", repo.host, dead.pid, f"{machine}:{boot}:1:{ticks}")
        started("twin-host", repo.host, dead.pid, f"another-machine:other-boot:{namespace}:1")
    status = {r["run_id"]: r["status"] for r in _runs(workdir)}
    assert status == {"elsewhere": "running", "dead-owner": "aborted", "reused-pid": "aborted",
                      "live-owner": "running", "rebooted": "aborted", "container": "running",
                      "twin-host": "running"}
    text = lineage_proc(["show", "elsewhere"], workdir).stdout
    assert "running (on host another-host.example)" in text
    # marked once: more readers add nothing
    before = lineage_proc(["verify", "--json"], workdir)
    _runs(workdir)
    assert lineage_proc(["verify", "--json"], workdir).stdout == before.stdout
