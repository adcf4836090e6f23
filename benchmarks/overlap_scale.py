"""Overlap audit over the memory budget: the exact-overlap family of ``lineage audit RUN`` in
memory, then out of core (DuckDB over the stored fingerprint objects), on the same repository.

    python benchmarks/overlap_scale.py                          # 20M train x 5M test rows
    python benchmarks/overlap_scale.py --rows 400000            # a quick run (test = rows / 4)
    python benchmarks/overlap_scale.py --work build/scale       # keep the prepared repository
    python benchmarks/overlap_scale.py --budget 256MB           # the out-of-core budget

The tables: 10 columns (4 int64, 3 float64, 3 strings), 1 % of the test rows copied from
train (every column), as Parquet (``overlap_audit.make_tables``). Prepared beforehand, not
timed: ``lineage snapshot`` of both (fingerprints computed there), a ``train`` run that read
the training table, an ``evaluate`` run that read the model and the test table. Timed, each
in its own process: ``lineage audit RUN`` with the family's rules (exact-overlap,
label-conflict, group-overlap, temporal-order, no-test-set), first with the default budget
(a quarter of RAM: in memory), then with ``LINEAGE_AUDIT_MEMORY_BUDGET`` forced low (out of
core); wall, CPU, peak RSS of the process. The audit JSON's ``meta.engine`` says which path
ran; the findings of both must be identical and count the planted rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import measured, tool
from overlap_audit import COLUMNS, prepare  # the same tables, snapshots and runs

FAMILY = ["exact-overlap", "label-conflict", "group-overlap", "temporal-order", "no-test-set"]
BUDGET_ENV = "LINEAGE_AUDIT_MEMORY_BUDGET"


def audit(work: Path, run_id: str, budget: str | None) -> tuple[dict, dict]:
    """(measurements, audit JSON) of the family's rules, with ``budget`` (None: the default)."""
    env = ["env", f"-u{BUDGET_ENV}"] if budget is None else ["env", f"{BUDGET_ENV}={budget}"]
    rules = [a for r in FAMILY for a in ("--rule", r)]
    stats, out = measured([*env, tool("lineage"), "audit", run_id, *rules, "--format", "json"], work, ok=(0, 1))
    return stats, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000, help="training rows (test: a quarter)")
    ap.add_argument("--work", type=Path, help="prepared repository to reuse (kept)")
    ap.add_argument("--budget", help="memory budget of the out-of-core audit (default: a tenth of the keys' "
                                     "estimated bytes, 48 per row)")
    args = ap.parse_args()
    n_train, n_test = args.rows, args.rows // 4
    budget = args.budget or str((n_train + n_test) * 48 // 10)
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="lineage-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        state = prepare(work, n_train, n_test)
        print(f"{n_train:,} train x {n_test:,} test rows x {len(COLUMNS)} columns, "
              f"{state['copied']:,} test rows copied from train, in {work}")
        print(f"load while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        mem_stats, mem = audit(work, state["run"], None)
        ooc_stats, ooc = audit(work, state["run"], budget)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    def mib(stats: dict) -> str:
        return f"{stats['peak_kib'] / 1024:,.0f} MiB"

    print()
    print(f"{'lineage audit RUN (the family)':<44} {'wall':>9} {'cpu':>9} {'peak memory':>12}  engine")
    for label, stats, report in (("default budget", mem_stats, mem), (f"budget {budget}", ooc_stats, ooc)):
        print(f"{label:<44} {stats['seconds']:>8.2f}s {stats['cpu']:>8.2f}s {mib(stats):>12}  "
              f"{report['meta']['engine']}")
    print()
    print(f"out of core / in memory: {ooc_stats['seconds'] / mem_stats['seconds']:.2f}x the wall time, "
          f"{ooc_stats['peak_kib'] / mem_stats['peak_kib']:.2f}x the peak memory "
          f"(estimated keys {mem['meta']['estimated_bytes'] / 2**20:,.0f} MiB)")
    counts = [next((f["evidence"]["overlap"] for f in r["findings"] if f["rule"] == "exact-overlap"), 0)
              for r in (mem, ooc)]
    print(f"test rows found in train: in memory {counts[0]:,}, out of core {counts[1]:,}, planted {state['copied']:,}")
    same = mem["findings"] == ooc["findings"] and counts[0] == state["copied"]
    paths = mem["meta"]["engine"] == "in-memory" and ooc["meta"]["engine"] == "out-of-core (duckdb)"
    print("identical findings" if same else "FINDINGS DIFFER")
    if not paths:
        print("NOT THE EXPECTED PATHS: the default budget must keep the audit in memory, the forced one not")
    if not (same and paths):
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
