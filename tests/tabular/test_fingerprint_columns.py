"""``FingerprintColumns``: a snapshot's fingerprint table read column by column (what the
audit reads) gives what ``load_fingerprints`` gives, column for column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import lineage
from lineage.tabular import load_fingerprints
from lineage.tabular.keys import fingerprint_keys
from lineage.tabular.load import FingerprintColumns


def _mixed_snapshot(workdir: Path, repo):
    data = workdir / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "c": rng.normal(size=40),
                          "k": np.arange(40), "y": ["u", "v"] * 20})
    frame.to_csv(data / "floats.csv", index=False)
    frame.to_csv(data / "indexed.csv")                 # an index-like column: fp_data
    frame[["k", "y"]].to_csv(data / "ints.csv", index=False)   # no float column: no near keys
    (data / "notes.bin").write_bytes(b"\x00\x01 not a table")  # one row: its digest
    return lineage.snapshot(data, repo=repo, name="d")


def test_columns_and_keys_match_the_whole_table(workdir: Path, repo):
    snap = _mixed_snapshot(workdir, repo)
    whole = load_fingerprints(repo, snap.id)
    cols = FingerprintColumns(repo, snap.id)
    assert set(cols.column_names) == set(whole.column_names)
    assert {"fp_near", "fp_data"} <= set(cols.column_names)
    assert cols.num_rows == whole.num_rows == 3 * 40 + 1
    for name in whole.column_names:
        assert cols.column(name).equals(whole.column(name)), name
    for name in ("fp", "fp_features", "group", "fp_near", "fp_near_shift", "fp_data"):
        pos, keys = cols.keys(name)
        want_pos, want_keys = fingerprint_keys(whole, name)
        assert pos.tolist() == want_pos.tolist() and keys.tobytes() == want_keys.tobytes(), name
    positions = [0, 40, 80, 120]
    assert cols.file_rows(positions) == [(whole.column("file")[p].as_py(), whole.column("row")[p].as_py())
                                        for p in positions]
    assert cols.files_with("fp_data") == ["indexed.csv"]
    assert cols.not_fingerprinted() == []


def test_only_the_columns_asked_for_are_read(workdir: Path, repo):
    snap = _mixed_snapshot(workdir, repo)
    cols = FingerprintColumns(repo, snap.id)
    cols.keys("fp")
    cols.column("row")
    assert set(cols._columns) == {"row"}  # keys are not kept as columns; nothing else was read
    cols.release("row")
    assert cols._columns == {}


def test_all_null_from_statistics(workdir: Path, repo):
    snap = _mixed_snapshot(workdir, repo)
    cols = FingerprintColumns(repo, snap.id)
    assert cols.all_null("time") and cols.all_null("label") and cols.all_null("group")
    assert not cols.all_null("fp") and not cols.all_null("fp_near") and not cols.all_null("fp_data")
    assert cols._columns == {}  # answered from the footers
    assert cols.all_null("no such column")
