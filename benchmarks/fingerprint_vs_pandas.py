"""Row fingerprint throughput against pandas ``hash_pandas_object``, on the same table, in one run.

The table has 10 columns: 6 float64, 1 int64 and 3 strings (2M rows by default).
Three figures, each the least CPU time of a few repetitions:

- pandas: ``pandas.util.hash_pandas_object(df, index=False)`` on the DataFrame already in
  memory (64-bit, and not stable across pandas versions or NaN payloads by contract);
- lineage, in memory: ``fingerprint_table`` on the Arrow table already in memory
  (128-bit, stable, documented in schemas/FINGERPRINTS.md), with the compiled kernels
  (loaded once before timing, the load reported on its own; ``LINEAGE_KERNELS=c`` or
  ``=numba`` picks the build, see lineage/tabular/kernels.py) and on the numpy
  reference path (``LINEAGE_NO_JIT=1``);
- lineage, streaming a Parquet file: ``compute_file``, i.e. what a snapshot does (read +
  fingerprints + column profiles + writing the fingerprint Parquet), with peak RSS.

    .venv/bin/python benchmarks/fingerprint_vs_pandas.py [--rows 2000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STREAM = """
import json, sys, time

def peak_mb():
    # VmHWM of this process image (ru_maxrss would include the parent's size at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from lineage.tabular.compute import compute_file
from lineage.tabular.readers import detect
t0 = time.perf_counter()
meta = compute_file(sys.argv[1], detect(sys.argv[1]), {}, display="bench", tmpdir=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": meta.rows,
                  "peak_mb": peak_mb()}))
"""


def make_table(rows: int):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(42)
    cols = {f"f{i}": rng.normal(size=rows) for i in range(6)}
    cols["n"] = rng.integers(0, 1_000_000, rows)
    cols["city"] = pc.take(pa.array([f"city-{i}" for i in range(500)]), pa.array(rng.integers(0, 500, rows)))
    cols["user"] = pc.cast(pa.array(rng.integers(0, 10**9, rows)), pa.string())
    cols["note"] = pc.binary_join_element_wise(
        "note ", pc.cast(pa.array(rng.integers(0, 10**6, rows)), pa.string()), " etc", "")
    return pa.table(cols)


def best(n: int, fn) -> float:
    """Least CPU time of ``n`` runs (CPU time, so other work on a shared machine does not
    skew the ratio; both sides run on one thread here)."""
    times = []
    for _ in range(n):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import pandas as pd
    import pyarrow.parquet as pq

    from lineage.tabular.rowhash import fingerprint_table

    import os

    from lineage.tabular import kernels

    table = make_table(args.rows)
    df = table.to_pandas()
    t0 = time.process_time()
    k = kernels.get()
    loaded = k is not None
    fingerprint_table(table.slice(0, 10))  # loads the cached kernels (compiles them the first time)
    t_load = time.process_time() - t0
    t_pandas = best(args.repeat, lambda: pd.util.hash_pandas_object(df, index=False))
    t_ours = best(args.repeat, lambda: fingerprint_table(table))
    os.environ["LINEAGE_NO_JIT"] = "1"
    t_numpy = best(args.repeat, lambda: fingerprint_table(table))
    del os.environ["LINEAGE_NO_JIT"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.parquet"
        pq.write_table(table, path)
        runs = []
        for _ in range(args.repeat):
            r = subprocess.run([sys.executable, "-c", STREAM, str(path), tmp], capture_output=True,
                               text=True, check=True)
            runs.append(json.loads(r.stdout))
        stream = min(runs, key=lambda x: x["seconds"])
    n = args.rows
    result = {
        "rows": n, "columns": table.num_columns,
        "pandas_hash_rows_per_s": round(n / t_pandas),
        "lineage_fingerprint_rows_per_s": round(n / t_ours),
        "ratio_lineage_over_pandas": round(t_pandas / t_ours, 2),
        "compiled_kernels": k.BACKEND if loaded else None,
        "kernel_load_cpu_s": round(t_load, 2),
        "lineage_numpy_reference_rows_per_s": round(n / t_numpy),
        "lineage_streaming_file_rows_per_s": round(n / stream["seconds"]),
        "lineage_streaming_peak_rss_mb": round(stream["peak_mb"]),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
