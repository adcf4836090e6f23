"""Data keys (``fp_data``): the row fingerprint without index-like columns (pandas' written
index), stored only for files that have such a column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import lineage
from lineage.tabular import load_fingerprints
from lineage.tabular.rowhash import data_columns, fingerprint_table, is_index_column, near_fingerprints


@pytest.mark.parametrize("name, t, expected", [
    ("", pa.int64(), True),
    ("Unnamed: 0", pa.int64(), True),
    ("Unnamed: 12", pa.int32(), True),
    ("__index_level_0__", pa.int64(), True),
    ("index", pa.uint32(), True),
    ("level_0", pa.int64(), True),
    ("", pa.float64(), False),          # not integer-typed
    ("Unnamed: 0", pa.string(), False),
    ("index", pa.float64(), False),
    ("Unnamed: x", pa.int64(), False),  # not the exact name
    ("Unnamed:0", pa.int64(), False),
    ("my_index", pa.int64(), False),
    ("Index", pa.int64(), False),
    ("id", pa.int64(), False),
])
def test_index_like_columns(name, t, expected):
    assert is_index_column(name, t) is expected


def test_data_columns():
    s = pa.schema([("", pa.int64()), ("b", pa.float64()), ("a", pa.int64())])
    assert data_columns(s) == ["a", "b"]
    assert data_columns(pa.schema([("a", pa.int64())])) is None  # nothing to leave out
    assert data_columns(pa.schema([("", pa.int64())])) is None   # nothing would be left


def test_snapshots_store_data_keys_for_files_with_an_index_column(workdir: Path, repo):
    data = workdir / "data"
    data.mkdir()
    frame = pd.DataFrame({"a": [0.1, 0.25, 3.5], "b": [1, 2, 3], "y": ["u", "v", "w"]})
    frame.to_csv(data / "plain.csv", index=False)
    frame.to_csv(data / "indexed.csv")                       # header "", pandas' default
    pd.read_csv(data / "indexed.csv").to_csv(data / "twice.csv")  # "" and "Unnamed: 0"
    snap = lineage.snapshot(data, repo=repo, name="d")
    fps = load_fingerprints(repo, snap.id)
    assert "fp_data" in fps.column_names
    by_file: dict[str, list[dict]] = {}
    for row in fps.to_pylist():
        by_file.setdefault(row["file"], []).append(row)
    plain = [r["fp"] for r in by_file["plain.csv"]]
    assert all(r["fp_data"] is None for r in by_file["plain.csv"])
    for f in ("indexed.csv", "twice.csv"):
        assert [r["fp_data"] for r in by_file[f]] == plain  # the same rows, without the index
        assert [r["fp"] for r in by_file[f]] != plain         # fp itself is unchanged
        # the near keys leave the index out too
        assert [r["fp_near"] for r in by_file[f]] == [r["fp_near"] for r in by_file["plain.csv"]]
    expected = fingerprint_table(pa.table({"a": [0.1, 0.25, 3.5], "b": [1, 2, 3], "y": ["u", "v", "w"]}))
    assert plain == expected.to_pylist()
    only_plain = lineage.snapshot(data / "plain.csv", repo=repo, name="plain")
    assert "fp_data" not in load_fingerprints(repo, only_plain.id).column_names


def test_near_fingerprints_leave_index_columns_out():
    with_index = pa.table({"": [7, 8], "x": [0.5, 1.5], "n": [1, 2]})
    without = pa.table({"x": [0.5, 1.5], "n": [1, 2]})
    assert near_fingerprints(with_index)[0].to_pylist() == near_fingerprints(without)[0].to_pylist()
