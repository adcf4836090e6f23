"""Snapshot of a large Parquet table: rows/s and peak memory, next to a pandas streaming hash.

The table has 10 columns (6 float64, 1 int64, 3 strings, as in fingerprint_vs_pandas.py),
20M rows by default, written in slices so the generator stays small. Each side runs in
its own child process, one after the other, in one run:

- lineage: ``compute_file``, i.e. what a snapshot does for a table (read, fingerprints,
  near keys, column profiles, fingerprint Parquet written batch by batch, rows key);
- pandas: ``ParquetFile.iter_batches`` (pre_buffer off) and ``hash_pandas_object`` on
  each batch (64-bit, unsalted, no profiles, nothing written).

Peak memory is the child's VmHWM (its own peak resident set). CPU seconds (user + system,
every thread) are reported too, with the machine's load average before and after: on a
shared machine they say more than the wall time. ``--kernels c|numba|none`` picks the
compiled kernels' build (``none``: the numpy reference path).

    .venv/bin/python benchmarks/table_snapshot.py [--rows 20000000] [--keep /tmp/t.parquet]
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

PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

LINEAGE = PEAK + """
import json, sys, time
from lineage.tabular.compute import compute_file
from lineage.tabular.readers import detect
t0, c0 = time.perf_counter(), time.process_time()
meta = compute_file(sys.argv[1], detect(sys.argv[1]), {}, display="bench", tmpdir=sys.argv[2])
from lineage.tabular import kernels
k = kernels.get()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": meta.rows,
                  "peak_mb": peak_mb(), "kernels": k.BACKEND if k is not None else None}))
"""

PANDAS = PEAK + """
import json, sys, time
import pandas as pd
import pyarrow.parquet as pq
t0, c0 = time.perf_counter(), time.process_time()
rows = 0
for batch in pq.ParquetFile(sys.argv[1], pre_buffer=False).iter_batches(batch_size=65536):
    rows += len(pd.util.hash_pandas_object(batch.to_pandas(), index=False))
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": rows,
                  "peak_mb": peak_mb()}))
"""


def write_table(path: Path, rows: int, slice_rows: int = 1_000_000) -> None:
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).parent))
    from fingerprint_vs_pandas import make_table

    writer = None
    for start in range(0, rows, slice_rows):
        t = make_table(min(slice_rows, rows - start))
        if writer is None:
            writer = pq.ParquetWriter(path, t.schema)
        writer.write_table(t)
    if writer is not None:
        writer.close()


def child(script: str, path: Path, tmp: str, env: dict | None = None) -> dict:
    r = subprocess.run([sys.executable, "-c", script, str(path), tmp], capture_output=True, text=True,
                       check=True, env=env)
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--keep", help="write the table here (or reuse it if it exists)")
    ap.add_argument("--no-pandas", action="store_true", help="measure lineage only")
    ap.add_argument("--kernels", choices=("c", "numba", "none"),
                    help="the compiled kernels' build (default: the first that loads; none: numpy)")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.kernels == "none":
        env["LINEAGE_NO_JIT"] = "1"
    elif args.kernels:
        env["LINEAGE_KERNELS"] = args.kernels
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "table.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            write_table(path, args.rows)
            print(f"wrote {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        ours = child(LINEAGE, path, tmp, env)
        for name in os.listdir(tmp):
            if name.endswith(".parquet") and Path(tmp, name) != path:
                os.unlink(Path(tmp, name))
        peer = None if args.no_pandas else child(PANDAS, path, tmp)
    result = {
        "rows": ours["rows"], "cores": os.cpu_count(),
        "lineage_seconds": round(ours["seconds"], 1),
        "lineage_cpu_seconds": round(ours["cpu"], 1),
        "lineage_rows_per_s": round(ours["rows"] / ours["seconds"]),
        "lineage_peak_rss_mb": round(ours["peak_mb"]),
        "kernels": ours["kernels"],
        "load_average_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }
    if peer:
        result.update({
            "pandas_stream_hash_seconds": round(peer["seconds"], 1),
            "pandas_stream_hash_cpu_seconds": round(peer["cpu"], 1),
            "pandas_stream_hash_peak_rss_mb": round(peer["peak_mb"]),
            "ratio_lineage_over_pandas": round(peer["seconds"] / ours["seconds"], 2),
        })
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
