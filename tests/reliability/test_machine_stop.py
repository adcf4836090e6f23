"""A machine that stops (power cut, kernel crash) right after a snapshot or a pull.

With ``core.durability = deferred`` (and for every pull), new objects become visible
before the kernel has written them back; a machine stop is the one way to lose those
bytes. The stop is made
as the next boot sees it: the writer's journal carries another boot ID, and an object
whose pages never reached the disk holds zeros. The next command that opens the store
says so in one warning line and removes what came back damaged; `verify` names it; the
snapshot or pull that wrote it, run again, brings it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import write_tree
from lineage.store import durability as dur

from .clones import make_clone, push
from .conftest import lineage_proc

pytestmark = pytest.mark.skipif(dur.boot_id() is None, reason="the kernel names no boot here")

OTHER_BOOT = "00000000-0000-0000-0000-000000000000"


def _journals(root: Path) -> list[Path]:
    return sorted((root / ".lineage" / "unflushed").glob("*.jsonl"))


def _stop_the_machine(root: Path, damage: int = 1) -> list[str]:
    """Every journal as the next boot reads it, and the first ``damage`` loose objects
    they name zeroed in their middle; returns the damaged digests."""
    hit: list[str] = []
    for journal in _journals(root):
        lines = journal.read_text().splitlines(keepends=True)
        header = json.loads(lines[0])
        header["boot"] = OTHER_BOOT
        journal.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
        for line in lines[1:]:
            for digest in json.loads(line)["objects"]:
                path = root / ".lineage" / "objects" / digest[:2] / digest[2:]
                if len(hit) < damage and path.stat().st_size > 1 << 20:
                    os.chmod(path, 0o644)
                    with open(path, "r+b") as fh:
                        fh.seek(path.stat().st_size // 2)
                        fh.write(b"\0" * 4096)
                    hit.append(digest)
    return hit


def _configure(root: Path, durability: str) -> None:
    config = root / ".lineage" / "config.toml"
    config.write_text(config.read_text().replace("[core]\n", f'[core]\ndurability = "{durability}"\n'))


def _data(root: Path) -> Path:
    return write_tree(root / "data", {
        "images/a.bin": os.urandom(3 << 20), "images/b.bin": os.urandom(2 << 20),
        "labels.csv": "id,label\n1,cat\n2,dog\n", "README.md": "two images\n",
    })


def test_a_damaged_snapshot_is_reported_once_and_snapshotting_again_repairs_it(workdir):
    _configure(workdir, "deferred")
    _data(workdir)
    assert lineage_proc(["snapshot", "data"], workdir).returncode == 0
    assert len(_journals(workdir)) == 1
    [lost] = _stop_the_machine(workdir)

    v = lineage_proc(["verify"], workdir)
    lines = [line for line in v.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "1 object(s)" in lines[0] and lost[:12] in lines[0], v.stderr
    assert "Traceback" not in v.stderr
    assert v.returncode == 1 and f"missing object {lost[:12]}" in v.stdout
    assert not _journals(workdir)

    again = lineage_proc(["verify"], workdir)
    assert "warning:" not in again.stderr  # said once

    s = lineage_proc(["snapshot", "data"], workdir)
    assert s.returncode == 0 and "unchanged" in s.stdout  # the same snapshot, its object back
    assert "stored 1 missing object(s) again" in s.stdout
    ok = lineage_proc(["verify"], workdir)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_an_intact_store_after_a_restart_says_nothing(workdir):
    _configure(workdir, "deferred")
    _data(workdir)
    assert lineage_proc(["snapshot", "data"], workdir).returncode == 0
    _stop_the_machine(workdir, damage=0)
    v = lineage_proc(["verify"], workdir)
    assert v.returncode == 0 and v.stderr == "", v.stderr
    assert not _journals(workdir)


def test_a_damaged_pull_is_pulled_again(tmp_path):
    remote = tmp_path / "remote"
    a = make_clone(tmp_path, "a", str(remote))
    _data(a.root)
    assert lineage_proc(["snapshot", "data"], a.root).returncode == 0
    push(a)
    b = make_clone(tmp_path, "b", str(remote))  # the default durability: pulls are journaled
    assert lineage_proc(["pull"], b.root).returncode == 0
    assert _journals(b.root)
    assert (b.root / "data" / "images" / "a.bin").read_bytes() == (a.root / "data" / "images" / "a.bin").read_bytes()
    [lost] = _stop_the_machine(b.root)
    first = lineage_proc(["verify"], b.root)
    assert first.returncode == 1 and "warning: the machine stopped" in first.stderr
    p = lineage_proc(["pull"], b.root)
    assert p.returncode == 0, p.stderr
    ok = lineage_proc(["verify"], b.root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (b.root / ".lineage" / "objects" / lost[:2] / lost[2:]).exists()


def test_immediate_durability_keeps_no_journal_and_a_bad_value_is_one_line(workdir):
    config = workdir / ".lineage" / "config.toml"
    text = config.read_text()
    _data(workdir)
    assert lineage_proc(["snapshot", "data"], workdir).returncode == 0  # the default
    assert not _journals(workdir)
    _configure(workdir, "immediate")
    (workdir / "data" / "more.bin").write_bytes(os.urandom(2 << 20))
    assert lineage_proc(["snapshot", "data"], workdir).returncode == 0
    assert not _journals(workdir)
    assert lineage_proc(["verify"], workdir).returncode == 0

    config.write_text(text.replace("[core]\n", '[core]\ndurability = "sometimes"\n'))
    bad = lineage_proc(["snapshot", "data"], workdir)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: core.durability must be deferred or immediate, not 'sometimes'"
    config.write_text(text.replace("[core]\n", "[core]\ndurability = 1\n"))
    bad = lineage_proc(["snapshot", "data"], workdir)
    assert bad.returncode == 2 and "core.durability" in bad.stderr and "must be a" in bad.stderr
