"""Overlap audit at scale: ``lineage audit RUN`` side by side with DuckDB's semi-join on
all columns of the same Parquet files, in one run.

    python benchmarks/overlap_audit.py                        # 5M train x 1M test rows
    python benchmarks/overlap_audit.py --rows 200000          # a quick run (test = rows / 5)
    python benchmarks/overlap_audit.py --work build/overlap   # keep the prepared repository and
                                                              # reuse it on the next call

The table: 10 columns (4 int64, 3 float64, 3 strings), 1 % of the test rows copied from
train, written as Parquet. Prepared beforehand, not timed: ``lineage snapshot`` of both
files (the row fingerprints are computed once, there), a ``train`` run that read the
training table and wrote a model, and an ``evaluate`` run that read the model and the
test table. Timed: ``lineage audit RUN`` of the evaluate run (every rule), and DuckDB
counting the test rows found in train (``SEMI JOIN`` on all ten columns), each in its
own process, with wall time and the peak resident memory of that process. Both must
count the planted rows.

DuckDB runs in its own virtual environment (build/bench-duckdb, created when missing):
it is no dependency of the project. Target: the audit within 2x of DuckDB's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import git_init, measured, tool, write_train_test

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "build" / "bench-duckdb"
PEER_PACKAGES = ["duckdb"]
COLUMNS = [*(f"i{k}" for k in range(4)), *(f"f{k}" for k in range(3)), *(f"s{k}" for k in range(3))]

# Runs a command, then prints its wall time, CPU time and the peak RSS of its process tree
# (KiB on Linux) as JSON on the last line of stderr: one fresh wrapper per measured step.
# The DuckDB side: test rows whose ten values all occur in one training row.
PEER = r"""
import json, sys, time
t0 = time.perf_counter()
import duckdb
cols = sys.argv[3].split(",")
on = " AND ".join(f"t.{c} IS NOT DISTINCT FROM r.{c}" for c in cols)
q = (f"SELECT count(*) FROM read_parquet('{sys.argv[2]}') t "
     f"SEMI JOIN read_parquet('{sys.argv[1]}') r ON {on}")
t1 = time.perf_counter()
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
count = con.execute(q).fetchone()[0]
print(json.dumps({"count": count, "query_seconds": time.perf_counter() - t1}))
"""


def make_tables(folder: Path, n_train: int, n_test: int, seed: int = 0) -> int:
    """Write train.parquet and test.parquet; returns how many test rows were copied from train."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:05d}" for i in range(50_000)])

    def columns(n: int) -> dict:
        out = {f"i{k}": rng.integers(0, 10 ** (3 + 2 * k), n) for k in range(4)}
        out.update({f"f{k}": np.round(rng.normal(0.0, 1.0, n), 6) for k in range(3)})
        out.update({f"s{k}": words[rng.integers(0, len(words), n)] for k in range(3)})
        return out

    return write_train_test(folder, columns(n_train), columns(n_test), 0.01, rng)



def peer_python() -> Path:
    python = PEER_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import duckdb"], capture_output=True).returncode == 0:
        return python
    print(f"creating {PEER_VENV} with {' '.join(PEER_PACKAGES)} ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def prepare(work: Path, n_train: int, n_test: int) -> dict:
    """The repository with both snapshots and the two runs (not timed); reused when present."""
    done = work / "prepared.json"
    if done.exists():
        state = json.loads(done.read_text())
        if state["train"] == n_train and state["test"] == n_test:
            return state
        raise SystemExit(f"{work} holds {state['train']:,} x {state['test']:,} rows: another --work folder")
    lin = tool("lineage")
    git_init(work)
    t0 = time.perf_counter()
    copied = make_tables(work / "data", n_train, n_test)
    print(f"tables written in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    subprocess.run([lin, "init"], cwd=work, check=True, capture_output=True)
    for name in ("train", "test"):
        t0 = time.perf_counter()
        subprocess.run([lin, "snapshot", f"data/{name}.parquet", "--name", name], cwd=work, check=True,
                       capture_output=True)
        print(f"snapshot {name} in {time.perf_counter() - t0:.1f} s (not timed)", file=sys.stderr)
    subprocess.run([lin, "run", "--kind", "train", "--input", "train=train", "--output", "model.bin", "--",
                    sys.executable, "-c", "open('model.bin', 'w').write('model')"], cwd=work, check=True,
                   capture_output=True)
    ev = subprocess.run([lin, "run", "--kind", "evaluate", "--input", "model=model.bin", "--input",
                         "test=test", "--json", "--", sys.executable, "-c", "pass"], cwd=work, check=True,
                        capture_output=True, text=True)
    state = {"train": n_train, "test": n_test, "copied": copied, "run": json.loads(ev.stdout)["run_id"]}
    done.write_text(json.dumps(state))
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000, help="training rows (test: a fifth)")
    ap.add_argument("--work", type=Path, help="prepared repository to reuse (kept)")
    args = ap.parse_args()
    n_train, n_test = args.rows, args.rows // 5
    peer = peer_python()
    lin = tool("lineage")
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="lineage-bench-overlap-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        state = prepare(work, n_train, n_test)
        print(f"{n_train:,} train x {n_test:,} test rows x {len(COLUMNS)} columns, "
              f"{state['copied']:,} test rows copied from train, in {work}")
        audit, out = measured([lin, "audit", state["run"], "--format", "json"], work, ok=(0, 1))
        report = json.loads(out)
        found = [f for f in report["findings"] if f["rule"] == "exact-overlap"]
        lin_count = found[0]["evidence"]["overlap"] if found else 0
        rules = sorted({f["rule"] for f in report["findings"]})
        peer_stats, out = measured([str(peer), "-c", PEER, str(work / "data" / "train.parquet"),
                                    str(work / "data" / "test.parquet"), ",".join(COLUMNS)], work)
        duck = json.loads(out.strip().splitlines()[-1])
    finally:
        if not args.work:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    def mib(stats: dict) -> str:
        return f"{stats['peak_kib'] / 1024:,.0f} MiB"

    print()
    print(f"{'step':<48} {'wall':>9} {'cpu':>9} {'peak memory':>12}")
    print(f"{'lineage audit RUN (every rule)':<48} {audit['seconds']:>8.2f}s {audit['cpu']:>8.2f}s {mib(audit):>12}")
    print(f"{'duckdb semi-join on all columns (process)':<48} {peer_stats['seconds']:>8.2f}s "
          f"{peer_stats['cpu']:>8.2f}s {mib(peer_stats):>12}")
    print(f"{'  of which the query':<48} {duck['query_seconds']:>8.2f}s")
    print()
    print(f"audit / duckdb: {audit['seconds'] / peer_stats['seconds']:.2f}x the wall time (target <= 2x)")
    print(f"findings: {', '.join(rules) or 'none'}")
    print(f"test rows found in train: lineage {lin_count:,}, duckdb {duck['count']:,}, planted {state['copied']:,}")
    same = lin_count == duck["count"] == state["copied"]
    print("counts agree" if same else "COUNTS DIFFER")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
