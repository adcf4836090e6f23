"""SIGKILL in the middle of push, fetch and gc --remote, with a folder remote and a real
SeaweedFS S3 server; and the S3 server itself killed in the middle of a push.

After each kill, rerunning the command finishes the work, ``lineage verify`` and
``lineage verify --remote`` pass, and a fresh clone pulls everything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import s3_server
from conftest import CLI, make_git_repo, write_tree

from .conftest import killed, lineage_proc

SMALL = {f"small/{i:02}.txt": f"line {i}\n" * 60 for i in range(24)}  # ~500 B each: packed


@dataclass
class RemoteSpot:
    """Where the remote lives, and a way to list it behind lineage's back."""

    url: str
    root: str
    fs: Any
    options: dict[str, Any] = field(default_factory=dict)

    def files(self, sub: str) -> list[str]:
        try:
            top = f"{self.root}/{sub}"
            return sorted(p for p in self.fs.find(top) if p.rstrip("/") != top)
        except FileNotFoundError:
            return []


def _s3_spot(server: s3_server.S3Server, monkeypatch: pytest.MonkeyPatch) -> RemoteSpot:
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    bucket = f"k{uuid.uuid4().hex[:12]}"
    fs = server.filesystem()
    fs.mkdir(bucket)
    return RemoteSpot(f"s3://{bucket}/store", f"{bucket}/store", fs, {"endpoint_url": server.endpoint})


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def spot(request, tmp_path, monkeypatch) -> RemoteSpot:
    if request.param == "local":
        import fsspec

        root = str(tmp_path / "remote")
        return RemoteSpot(root, root, fsspec.filesystem("file"))
    return _s3_spot(request.getfixturevalue("s3"), monkeypatch)


def _clone(tmp_path: Path, name: str, spot: RemoteSpot, **options: Any) -> Path:
    from lineage.sync import remotes
    from lineage.repo import Repo

    path = make_git_repo(tmp_path / name)
    repo, _ = Repo.init(path)
    try:
        remotes.add(repo, "origin", spot.url, default=True, exist_ok=True, **{**spot.options, **options})
    finally:
        repo.close()
    return path


def _ok(cli: CLI, cwd: Path, *args: str) -> Any:
    r = cli(*args, "--json", cwd=cwd)
    assert r.code == 0, (args, r.stdout, r.stderr)
    return r.json


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _all_good(cli: CLI, tmp_path: Path, cwd: Path, spot: RemoteSpot, folders: list[str]) -> None:
    """Both stores verify, and a fresh clone pulls every folder, byte for byte."""
    _ok(cli, cwd, "verify")
    _ok(cli, cwd, "verify", "--remote", "origin")
    fresh = _clone(tmp_path, f"fresh{uuid.uuid4().hex[:6]}", spot)
    _ok(cli, fresh, "pull")
    for folder in folders:
        assert _tree(fresh / folder) == _tree(cwd / folder), folder
    _ok(cli, fresh, "verify")


# -- push -------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["push.object:1", "push.pack:2", "push.events"])
def test_killed_push_is_finished_by_a_rerun(spot, tmp_path, capsys, fault):
    cli = CLI(tmp_path, capsys)
    # one worker and small packs: the kill lands with part of the objects sent
    a = _clone(tmp_path, "a", spot, pack_size=2048, jobs=1)
    write_tree(a / "data", {**SMALL, "big/a.bin": os.urandom(600_000), "big/b.bin": os.urandom(700_000)})
    _ok(cli, a, "snapshot", "data")
    assert killed(lineage_proc(["push"], a, fault=fault))
    assert spot.files("objects") or spot.files("packs")  # something landed...
    assert spot.files("events") == []  # ...but no event names objects that may be missing

    again = _ok(cli, a, "push")
    assert again["objects_present"] > 0 and again["events_sent"] == 1
    assert _ok(cli, a, "push")["objects_sent"] == 0
    _all_good(cli, tmp_path, a, spot, ["data"])


@pytest.mark.s3
def test_killed_multipart_upload_leaves_no_object_and_a_rerun_completes(tmp_path, capsys, s3, monkeypatch):
    spot = _s3_spot(s3, monkeypatch)
    cli = CLI(tmp_path, capsys)
    # 5 MiB parts, one in flight: the kill lands after the second part of three
    a = _clone(tmp_path, "a", spot, part_size=5 << 20, parts=1)
    write_tree(a / "data", {"big.bin": os.urandom((12 << 20) + 777)})
    _ok(cli, a, "snapshot", "data")
    assert killed(lineage_proc(["push"], a, fault="remote.part:2"))
    assert spot.files("objects") == []  # parts sent, but nothing under the object's key
    assert spot.files("events") == []

    again = _ok(cli, a, "push")
    assert again["objects_sent"] == 1 and again["events_sent"] == 1
    assert len(spot.files("objects")) == 1
    _all_good(cli, tmp_path, a, spot, ["data"])


# -- fetch ------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["fetch.events", "fetch.range:1", "fetch.download:1", "fetch.object:1"])
def test_killed_fetch_is_finished_by_a_rerun(spot, tmp_path, capsys, fault):
    cli = CLI(tmp_path, capsys)
    a = _clone(tmp_path, "a", spot, pack_size=2048)
    write_tree(a / "data", {**SMALL, "big/a.bin": os.urandom(600_000), "big/b.bin": os.urandom(700_000)})
    _ok(cli, a, "snapshot", "data")
    _ok(cli, a, "push")

    b = _clone(tmp_path, "b", spot, jobs=1)
    assert killed(lineage_proc(["fetch"], b, fault=fault))
    pulled = _ok(cli, b, "pull")
    assert pulled["objects_received"] > 0
    assert _tree(b / "data") == _tree(a / "data")
    assert _ok(cli, b, "fetch")["objects_received"] == 0
    _all_good(cli, tmp_path, b, spot, ["data"])


# -- gc --remote ------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["gc.remote.rewrite", "gc.remote.pack", "gc.remote.delete"])
def test_killed_remote_gc_is_finished_by_a_rerun(spot, tmp_path, capsys, fault):
    cli = CLI(tmp_path, capsys)
    # rewritten alone, this file makes a pack whose ID sorts after the old one (fff62c...):
    # the rerun after a killed rewrite meets the old pack first and the new one last
    shared = "a file both clones hold (1515)\n"
    # garbage on the remote: a push killed before its events leaves objects nothing
    # references, in packs (one also holding a live object) and one loose
    g = _clone(tmp_path, "g", spot, pack_size=4096, jobs=1)
    junk = {f"junk/{i:02}.txt": os.urandom(900).hex() for i in range(12)}
    write_tree(g / "junk", {**junk, "shared.txt": shared, "big.bin": os.urandom(600_000)})
    _ok(cli, g, "snapshot", "junk")
    assert killed(lineage_proc(["push"], g, fault="push.events"))
    # and pack data whose index never landed
    h = _clone(tmp_path, "h", spot)
    write_tree(h / "other", {"x.txt": "x\n"})
    _ok(cli, h, "snapshot", "other")
    assert killed(lineage_proc(["push"], h, fault="remote.pack_data"))
    a = _clone(tmp_path, "a", spot)
    write_tree(a / "data", {"shared.txt": shared, "own.txt": "own\n"})
    _ok(cli, a, "snapshot", "data")
    assert _ok(cli, a, "push")["objects_present"] == 1  # shared.txt is in one of g's packs

    assert killed(lineage_proc(["gc", "--remote", "origin", "--grace", "0"], a, fault=fault))
    _ok(cli, a, "verify", "--remote", "origin")  # a killed gc never removes what is kept
    rerun = _ok(cli, a, "gc", "--remote", "origin", "--grace", "0")
    assert rerun["removed_count"] > 0
    assert _ok(cli, a, "gc", "--remote", "origin", "--grace", "0")["removed_count"] == 0
    assert spot.files("objects") == []  # the loose junk is gone
    assert all(p.endswith((".pack", ".idx")) for p in spot.files("packs"))
    _all_good(cli, tmp_path, a, spot, ["data"])


# -- the S3 server dies -----------------------------------------------------------

@pytest.mark.s3
def test_server_killed_mid_push_is_one_line_and_a_rerun_completes(tmp_path, capsys, s3, monkeypatch):
    cli = CLI(tmp_path, capsys)
    dying = s3_server.start()
    try:
        spot = _s3_spot(dying, monkeypatch)
        # one worker, no retries: the push is under way when the server dies and fails fast
        a = _clone(tmp_path, "a", spot, jobs=1, retries=0)
        write_tree(a / "data", {**{f"big/{i}.bin": os.urandom(10 << 20) for i in range(5)}, **SMALL})
        _ok(cli, a, "snapshot", "data")
        proc = subprocess.Popen([sys.executable, "-m", "lineage", "push"], cwd=a, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            spot.fs.invalidate_cache()
            if spot.files("objects"):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "push finished before the server could be killed"
        os.kill(dying.process.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        dying.stop()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "remote 'origin'" in lines[0] or dying.endpoint in lines[0], err
    assert "Traceback" not in err and "Task exception" not in err and "never retrieved" not in err
    assert dying.secret_key not in err and dying.access_key not in err

    # the same bucket on another server: the rerun sends everything and completes
    spot.fs = s3.filesystem()
    spot.fs.mkdir(spot.root.split("/")[0])
    spot.options = {"endpoint_url": s3.endpoint}
    _clone_remote_to(a, spot)
    pushed = _ok(cli, a, "push")
    assert pushed["events_sent"] == 1
    _all_good(cli, tmp_path, a, spot, ["data"])
    assert json.loads(lineage_proc(["push", "--json"], a).stdout)["objects_sent"] == 0


def _clone_remote_to(path: Path, spot: RemoteSpot) -> None:
    from lineage.sync import remotes
    from lineage.repo import Repo

    repo = Repo.find(path)
    try:
        remotes.add(repo, "origin", spot.url, default=True, exist_ok=True, **spot.options)
    finally:
        repo.close()
