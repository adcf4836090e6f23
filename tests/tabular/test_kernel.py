"""The engine-agnostic kernel: one batch in, the local pass's fingerprint rows and
mergeable profile partials out."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.tabular.compute import compute_file
from lineage.tabular.kernel import fingerprint_batch, merge_partials, profile_partial
from lineage.tabular.readers import detect


def _table() -> pa.Table:
    n = 1000
    return pa.table({
        "index": pa.array(range(n), pa.int64()),
        "x": pa.array([i / 7 if i % 13 else None for i in range(n)], pa.float64()),
        "s": pa.array([f"v{i % 17}" for i in range(n)]),
        "y": pa.array([i % 2 for i in range(n)]),
    })


def test_fingerprint_batch_is_the_local_fingerprint_table(tmp_path: Path) -> None:
    t = _table()
    pq.write_table(t, tmp_path / "t.parquet")
    meta = compute_file(str(tmp_path / "t.parquet"), detect("t.parquet"), {"label": "y"},
                        display="t.parquet", tmpdir=str(tmp_path))
    local = pq.read_table(meta.fingerprints_path)
    # in two pieces, as two engines' batches: rows numbered from each piece's start
    parts = [fingerprint_batch(b, {"label": "y"}, start=s)
             for s, b in ((0, t.slice(0, 600).combine_chunks().to_batches()[0]),
                          (600, t.slice(600).combine_chunks().to_batches()[0]))]
    got = pa.Table.from_batches(parts)
    assert got.schema.names == local.schema.names == [
        "row", "fp", "fp_features", "group", "time", "label", "fp_near", "fp_near_shift", "fp_data"]
    assert got.equals(local.cast(got.schema))


def test_partials_merge_to_the_local_profile(tmp_path: Path) -> None:
    t = _table()
    pq.write_table(t, tmp_path / "t.parquet")
    meta = compute_file(str(tmp_path / "t.parquet"), detect("t.parquet"), {},
                        display="t.parquet", tmpdir=str(tmp_path))
    merged = merge_partials([profile_partial(t.to_batches()[0])])
    assert merged == meta.profile
    # a different cut gives the same counts and moments within float tolerance
    halves = merge_partials([profile_partial(t.slice(0, 300).combine_chunks().to_batches()[0]),
                             profile_partial(t.slice(300).combine_chunks().to_batches()[0])])
    for name, prof in meta.profile.items():
        assert halves[name]["count"] == prof["count"] and halves[name]["nulls"] == prof["nulls"]
        if prof["kind"] == "numeric":
            assert abs(halves[name]["mean"] - prof["mean"]) <= 1e-12 * max(1.0, abs(prof["mean"]))
            assert abs(halves[name]["std"] - prof["std"]) <= 1e-9 * max(1.0, prof["std"])
        else:
            assert halves[name]["top"] == prof["top"]


def test_a_batch_without_declarations_has_no_features_key() -> None:
    out = fingerprint_batch(pa.record_batch({"a": pa.array([1, 2], pa.int64())}))
    assert out.column("fp_features").null_count == 2
    assert "fp_near" not in out.schema.names and "fp_data" not in out.schema.names
