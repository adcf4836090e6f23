"""Shared helpers for the benchmark scripts: timing, data generation, peers."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A console script of this environment (lineage, dvc), else from PATH."""
    local = BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` and return its wall time in seconds; fail loudly on error."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def best_of(n: int, fn) -> float:
    return min(fn() for _ in range(n))


def median_of(n: int, fn) -> float:
    return statistics.median(fn() for _ in range(n))


def git_init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "Bench"],
                 ["config", "user.email", "bench@localhost"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "README").write_text("bench\n")
    subprocess.run(["git", "add", "README"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=path, check=True)


def make_small_files(root: Path, count: int, size: int, seed: int = 0) -> None:
    """``count`` files of ``size`` random bytes, 1,000 to a folder."""
    rng = __import__("random").Random(seed)
    for i in range(count):
        folder = root / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:06d}.bin").write_bytes(rng.randbytes(size))


def make_large_files(root: Path, count: int, size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    for i in range(count):
        with open(root / f"big{i}.bin", "wb") as fh:
            for j in range(size // len(block)):
                # vary each block so no two blocks (or files) are identical
                fh.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])


def drop_caches_hint() -> str:
    return "page cache warm (files just written), same for both tools"


def settle() -> bool:
    """Flush dirty pages and, where allowed (root on Linux), drop the page cache, so each
    timed step starts from the same state: nothing left to write back for the step before,
    and free memory to fill. Without the drop a step that runs just after another freed
    gigabytes (a peer's cache removed before its pull) gets those pages ready, and the
    first step on fresh memory pays for reclaiming the cache (several seconds a 2 GB pull
    on a virtual machine). True if the cache was dropped."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def table(rows: list[tuple[str, float, float]]) -> str:
    width = max([44] + [len(name) for name, _, _ in rows])
    out = [f"{'operation':{width}} {'lineage':>10} {'peer':>10} {'ratio':>8}"]
    for name, ours, theirs in rows:
        out.append(f"{name:{width}} {ours:9.3f}s {theirs:9.3f}s {theirs / ours:7.1f}x")
    return "\n".join(out)


#: Runs a command and prints its wall time, CPU time and peak memory (its children's
#: getrusage) as one JSON line on stderr: how the audit benchmarks time each side.
MEASURE = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
elapsed = time.perf_counter() - t0
sys.stdout.buffer.write(proc.stdout)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": elapsed, "cpu": use.ru_utime + use.ru_stime, "peak_kib": use.ru_maxrss,
                  "code": proc.returncode}), file=sys.stderr)
"""


def measured(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[dict, str]:
    """``cmd`` run under MEASURE: (seconds, cpu, peak_kib, code) and its stdout."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, capture_output=True, text=True)
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    if stats["code"] not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({stats['code']}):\n{proc.stderr[-2000:]}")
    return stats, proc.stdout


def write_train_test(folder: Path, train: dict, test: dict, share: float, rng) -> int:
    """Copy ``share`` of the test rows from random training rows (every column), write
    both as Parquet in ``folder``; the number of rows planted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_train, n_test = len(next(iter(train.values()))), len(next(iter(test.values())))
    copied = int(round(n_test * share))
    src = rng.choice(n_train, copied, replace=False)
    dst = rng.choice(n_test, copied, replace=False)
    for name in test:
        test[name][dst] = train[name][src]
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(train), folder / "train.parquet")
    pq.write_table(pa.table(test), folder / "test.parquet")
    return copied
