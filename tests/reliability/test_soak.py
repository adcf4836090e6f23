"""Soak: SIGKILL at random moments, many times over, then check nothing was lost.

Named kill points (LINEAGE_FAULT) stop a process exactly where a crash matters; these
loops stop it wherever it happens to be. They run under `make soak` only
(LINEAGE_SOAK_ROUNDS sets the number of rounds, 50 by default).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_git_repo
from .conftest import lineage_proc

ROUNDS = int(os.environ.get("LINEAGE_SOAK_ROUNDS", "50"))

pytestmark = pytest.mark.soak


def _tree(root: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        p = root / f"d{i % 17}" / f"f{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randint(0, 9000)))


def _kill_after(args: list[str], cwd: Path, delay: float) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "lineage", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


def test_random_kills_of_snapshot_checkout_and_push(tmp_path: Path) -> None:
    work = make_git_repo(tmp_path / "work")
    assert lineage_proc(["init"], work).returncode == 0
    remote = tmp_path / "remote"
    assert lineage_proc(["remote", "add", "origin", str(remote), "--default"], work).returncode == 0
    rng = random.Random(1234)
    for round_ in range(ROUNDS):
        _tree(work / "data", 1500, seed=round_)
        op = rng.choice(["snapshot", "checkout", "push", "gc"])
        args = {"snapshot": ["snapshot", "data", "--name", "data"],
                "checkout": ["checkout", "data@1", "--force"],
                "push": ["push"],
                "gc": ["gc"]}[op]
        if op == "checkout" and lineage_proc(["show", "data@1"], work).returncode != 0:
            args = ["snapshot", "data", "--name", "data"]
        _kill_after(args, work, rng.uniform(0.05, 1.5))
        again = lineage_proc(args, work)
        assert again.returncode == 0, f"round {round_} {op}: {again.stderr}"
        check = lineage_proc(["verify"], work)
        assert check.returncode == 0, f"round {round_} after {op}: {check.stdout}{check.stderr}"
        leftovers = [p for p in (work / "data").rglob("*") if "lineage-tmp" in p.name]
        assert not leftovers, f"round {round_} after {op}: {leftovers[:3]}"
