"""Overlap audit of train vs test rows: lineage side by side with Deepchecks, in one run.

    python benchmarks/audit_vs_deepchecks.py                  # 1M train x 200k test rows
    python benchmarks/audit_vs_deepchecks.py --train 100000 --test 20000   # a quick run

The anchor table (see the design notes): 10 columns (6 normal floats rounded to 6
decimals, 3 string columns of 5 values, a binary label), 2 % of the test rows copied
from train, written as Parquet. Timed for lineage: ``lineage snapshot`` of each file
(which computes the row fingerprints once) and ``lineage audit RUN --rule
exact-overlap`` of an evaluate run that read both (the audit command alone). Timed for
Deepchecks 0.19.1: ``TrainTestSamplesMix`` on the same files (building its datasets and
running the check; reading the Parquet files is reported apart). Both must find the
same number of test rows that appear in train. Each step runs in its own process,
whose peak resident memory is reported.

Deepchecks 0.19.1 needs older scikit-learn, pandas and numpy than this project, so it
runs in a separate virtual environment, created under build/bench-venv when missing.
Target: the overlap audit >= 20x faster than Deepchecks (wall and CPU) with at most a fifth
of its peak memory, same counts.
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
BENCH_VENV = ROOT / "build" / "bench-venv"
PEER_PACKAGES = ["deepchecks==0.19.1", "scikit-learn<1.6", "pandas<2.3", "numpy<2",
                 "category-encoders<2.7", "pyarrow<22"]

# Runs a command, then prints its wall time, CPU time (user + system, which a busy
# machine disturbs less) and the peak RSS of its process tree (KiB on Linux) as JSON on the last line of stderr: one fresh wrapper per measured step, so
# RUSAGE_CHILDREN holds that step alone.
# The Deepchecks side, run by the benchmark environment's interpreter.
PEER = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from deepchecks.tabular import Dataset
from deepchecks.tabular.checks import TrainTestSamplesMix

def cpu():
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime

t0 = time.perf_counter()
train, test = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
t1, c1 = time.perf_counter(), cpu()
cats = [c for c in train.columns if c.startswith("s")]
train_ds = Dataset(train, label="label", cat_features=cats)
test_ds = Dataset(test, label="label", cat_features=cats)
result = TrainTestSamplesMix(n_to_show=5).run(train_ds, test_ds)
t2, c2 = time.perf_counter(), cpu()
value = result.value
ratio = float(value["ratio"] if isinstance(value, dict) else value)
print(json.dumps({"read_seconds": t1 - t0, "check_seconds": t2 - t1, "check_cpu": c2 - c1, "ratio": ratio,
                  "count": round(ratio * len(test))}))
"""


def make_tables(folder: Path, n_train: int, n_test: int, seed: int = 0) -> int:
    """Write train.parquet and test.parquet; returns how many test rows were copied from train."""
    import numpy as np

    rng = np.random.default_rng(seed)
    levels = np.array([f"v{i}" for i in range(5)])

    def columns(n: int) -> dict:
        out = {f"f{i}": np.round(rng.normal(0.0, 1.0, n), 6) for i in range(6)}
        out.update({f"s{i}": levels[rng.integers(0, 5, n)] for i in range(3)})
        out["label"] = rng.integers(0, 2, n).astype(np.int64)
        return out

    return write_train_test(folder, columns(n_train), columns(n_test), 0.02, rng)



def peer_python() -> Path:
    python = BENCH_VENV / "bin" / "python"
    probe = [str(python), "-c", "import deepchecks, pyarrow; assert deepchecks.__version__ == '0.19.1'"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {BENCH_VENV} with {' '.join(PEER_PACKAGES)} ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=1_000_000)
    ap.add_argument("--test", type=int, default=200_000)
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    args = ap.parse_args()
    peer = peer_python()
    lin = tool("lineage")
    work = Path(tempfile.mkdtemp(prefix="lineage-bench-audit-"))
    try:
        git_init(work)
        t0 = time.perf_counter()
        copied = make_tables(work / "data", args.train, args.test)
        print(f"{args.train:,} train and {args.test:,} test rows x 10 columns, {copied:,} test rows "
              f"copied from train (written in {time.perf_counter() - t0:.1f} s) in {work}")
        subprocess.run([lin, "init"], cwd=work, check=True, capture_output=True)
        snaps = {}
        for name in ("train", "test"):
            snaps[name], _ = measured([lin, "snapshot", f"data/{name}.parquet", "--name", name,
                                       "--label-column", "label"], work)
        start = subprocess.run([lin, "run", "start", "--kind", "evaluate", "--input", "train=train",
                                "--input", "test=test", "--json"], cwd=work, check=True,
                               capture_output=True, text=True)
        run_id = json.loads(start.stdout)["run_id"]
        subprocess.run([lin, "run", "finish", run_id], cwd=work, check=True, capture_output=True)
        audit, out = measured([lin, "audit", run_id, "--rule", "exact-overlap", "--format", "json"], work,
                              ok=(0, 1))
        findings = [f for f in json.loads(out)["findings"] if f["rule"] == "exact-overlap"]
        lin_count = findings[0]["evidence"]["overlap"] if findings else 0
        peer_stats, out = measured([str(peer), "-c", PEER, str(work / "data" / "train.parquet"),
                                    str(work / "data" / "test.parquet")], work)
        dc = json.loads(out.strip().splitlines()[-1])
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    def mib(stats: dict) -> str:
        return f"{stats['peak_kib'] / 1024:,.0f} MiB"

    print()
    print(f"{'step':<52} {'wall':>9} {'cpu':>9} {'peak memory':>12}")
    for label, st in (("lineage snapshot train (fingerprints)", snaps["train"]),
                      ("lineage snapshot test (fingerprints)", snaps["test"]),
                      ("lineage audit --rule exact-overlap", audit)):
        print(f"{label:<52} {st['seconds']:>8.2f}s {st['cpu']:>8.2f}s {mib(st):>12}")
    print(f"{'deepchecks: read Parquet (pandas)':<52} {dc['read_seconds']:>8.2f}s")
    print(f"{'deepchecks: TrainTestSamplesMix (datasets + check)':<52} {dc['check_seconds']:>8.2f}s "
          f"{dc['check_cpu']:>8.2f}s {mib(peer_stats):>12}")
    print()
    snap_wall = snaps["train"]["seconds"] + snaps["test"]["seconds"]
    snap_cpu = snaps["train"]["cpu"] + snaps["test"]["cpu"]
    print(f"overlap audit vs TrainTestSamplesMix: {dc['check_seconds'] / audit['seconds']:.1f}x faster "
          f"wall, {dc['check_cpu'] / audit['cpu']:.1f}x CPU (target >= 20x)")
    print(f"snapshots + audit vs TrainTestSamplesMix: {dc['check_seconds'] / (audit['seconds'] + snap_wall):.1f}x "
          f"wall, {dc['check_cpu'] / (audit['cpu'] + snap_cpu):.1f}x CPU")
    print(f"peak memory: audit {mib(audit)}, deepchecks {mib(peer_stats)} "
          f"({peer_stats['peak_kib'] / audit['peak_kib']:.1f}x)")
    print(f"test rows found in train: lineage {lin_count:,} ({lin_count / args.test:.4f}), "
          f"deepchecks {dc['count']:,} (ratio {dc['ratio']:.4f}), planted {copied:,}")
    same = lin_count == dc["count"] == copied
    print("counts agree" if same else "COUNTS DIFFER")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
