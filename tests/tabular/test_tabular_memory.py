"""Fingerprinting streams: a 5-million-row file stays far below 1 GB of peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

ROWS = 5_000_000

MEASURE = """
import json, sys

def peak_mb():
    # VmHWM of this process image (ru_maxrss would include the parent's size at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from lineage.tabular.compute import compute_file
from lineage.tabular.readers import detect
path, tmp = sys.argv[1], sys.argv[2]
meta = compute_file(path, detect(path), {"label": "label", "group": "user", "time": "t"},
                    display="big.parquet", tmpdir=tmp)
import pyarrow.parquet as pq
fps = pq.ParquetFile(meta.fingerprints_path).metadata.num_rows
print(json.dumps({"rows": meta.rows, "fps": fps,
                  "peak_mb": peak_mb()}))
"""


@pytest.mark.slow
def test_five_million_rows_in_bounded_memory(tmp_path: Path):
    path = tmp_path / "big.parquet"
    schema = pa.schema([("user", pa.int64()), ("x", pa.float64()), ("s", pa.string()),
                        ("t", pa.timestamp("us", "UTC")), ("label", pa.int64())])
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, schema) as writer:  # written in slices: the test stays small too
        for start in range(0, ROWS, 500_000):
            ids = np.arange(start, start + 500_000)
            writer.write_table(pa.table({
                "user": ids % 100_003, "x": rng.random(len(ids)),
                "s": pc.cast(pa.array(ids * 7919 % 1_000_003), pa.string()),
                "t": pa.array(ids * 1_000_000, pa.timestamp("us", "UTC")), "label": ids % 3,
            }, schema=schema))
    r = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(tmp_path)],
                       capture_output=True, text=True, check=True)
    result = json.loads(r.stdout)
    assert result["rows"] == ROWS and result["fps"] == ROWS
    assert result["peak_mb"] < 600, result
