"""Near keys (``fp_near``, ``fp_near_shift``): float values snapped to a grid of step 2**-18,
absolute below 1 and relative to the value's power of two above."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lineage
from lineage.tabular import load_fingerprints
from lineage.tabular.rowhash import NEAR_BITS, fingerprint_table, near_fingerprints, snap_bits

STEP = 2.0 ** -NEAR_BITS  # the grid step on [0, 2): 2**-18


def snapped(x: float, shifted: bool = False) -> float:
    return struct.unpack("<d", int(snap_bits(np.array([x]), shifted)[0]).to_bytes(8, "little"))[0]


def keys(table: pa.Table) -> tuple[list[bytes], list[bytes]]:
    near, shift = near_fingerprints(table)
    return near.to_pylist(), shift.to_pylist()


def test_snapping_rule():
    assert NEAR_BITS == 18
    # the two grids at 1.0: nearest multiple of 2**-18 (half up), and the multiple below
    assert snapped(1.0 + 0.4 * STEP) == 1.0 and snapped(1.0 + 0.6 * STEP) == 1.0 + STEP
    assert snapped(1.0 + 0.6 * STEP, shifted=True) == 1.0
    assert snapped(1.0 + 0.5 * STEP) == 1.0 + STEP  # half up (in magnitude)
    # relative above 1: the step follows the power of two
    assert snapped(1024.0 + 0.6 * 1024 * STEP) == 1024.0 * (1 + STEP)
    # absolute below 1: multiples of 2**-18, continuing the grid of [1, 2) across 1
    assert snapped(0.25 + 0.4 * STEP) == 0.25 and snapped(0.25 + 0.6 * STEP) == 0.25 + STEP
    assert snapped(0.25 + 0.5 * STEP) == 0.25 + STEP and snapped(0.25 + 0.9 * STEP, shifted=True) == 0.25
    assert snapped(1.0 - 0.4 * STEP) == 1.0 and snapped(1.0 - 0.4 * STEP, shifted=True) == 1.0 - STEP
    assert snapped(0.4 * STEP) == 0.0 and snapped(0.9 * STEP, shifted=True) == 0.0
    assert snapped(1e-300) == 0.0 and snapped(5e-324) == 0.0
    for x in (0.1, 0.3, 0.7071, 1e-5):
        for shifted in (False, True):
            assert snapped(x, shifted) / STEP == round(snapped(x, shifted) / STEP)
    for x in (math.pi, 1e-300, 6.02e23, 0.1, 0.999999, 123456.789):
        for shifted in (False, True):
            assert abs(snapped(x, shifted) - x) <= max(x, 1.0) * 2 * STEP
            assert snapped(-x, shifted) == -snapped(x, shifted)  # sign and magnitude
    # exact values stay exact: zero (either sign), integers below 2**19, binary fractions
    assert snapped(0.0) == 0.0 and math.copysign(1, snapped(-0.0)) == 1.0
    for i in (1, 7, 255, 2 ** 18 + 1, -3, 0.5, -0.25, 0.375):
        assert snapped(float(i)) == i and snapped(float(i), shifted=True) == i
    assert snapped(2.0 ** 60 + 2.0 ** 20) == 2.0 ** 60  # large integers are snapped like any float
    # NaN (one value), infinities untouched; the largest float does not become infinite
    nan_bits = snap_bits(np.array([float("nan"), -float("nan")]))
    assert nan_bits[0] == nan_bits[1] == 0x7FF8000000000000
    assert snapped(float("inf")) == float("inf") and snapped(-float("inf")) == -float("inf")
    assert math.isfinite(snapped(1.7976931348623157e308))


def test_no_float_column_no_near_keys():
    assert near_fingerprints(pa.table({"a": [1, 2], "s": ["x", "y"]})) is None
    # without float values the snapped row is the row itself
    t = pa.table({"a": [1.0, 2.5], "s": ["x", "y"]})
    near, shift = keys(t)
    assert near == shift == fingerprint_table(t).to_pylist()


def test_noise_is_absorbed_and_real_differences_are_not():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(2000, 6)) * 10.0 ** rng.integers(-3, 4, size=6)
    cols = {f"c{i}": base[:, i] for i in range(6)}
    ids = np.arange(2000)
    table = pa.table({**cols, "id": ids})
    near, shift = keys(table)

    def matched(other: pa.Table) -> float:
        n2, s2 = keys(other)
        return np.mean([a == b or c == d for a, b, c, d in zip(near, n2, shift, s2)])

    for rel in (1e-9, 1e-12):
        noisy = pa.table({**{k: v * (1 + rel * rng.choice([-1, 1], size=2000)) for k, v in cols.items()},
                          "id": ids})
        assert matched(noisy) >= 0.999
    assert matched(pa.table({**{k: v * (1 + 1e-7) for k, v in cols.items()}, "id": ids})) > 0.5
    assert matched(pa.table({**{k: v * (1 + 1e-3) for k, v in cols.items()}, "id": ids})) == 0.0
    # a non-float column is compared exactly
    assert matched(pa.table({**cols, "id": ids + 1})) == 0.0


@pytest.mark.parametrize("base", [1.0, 0.25, -0.625])
def test_a_value_on_a_rounding_boundary_is_caught_by_the_shifted_grid(base):
    # above 1 (relative grid) and below 1 (absolute grid), either sign
    sign = math.copysign(1.0, base)
    for boundary, caught_by in ((base + sign * 0.5 * STEP, "shift"), (base + sign * STEP, "near")):
        lo = pa.table({"x": [boundary - 1e-13], "y": [3.25]})
        hi = pa.table({"x": [boundary + 1e-13], "y": [3.25]})
        (n_lo,), (s_lo,) = keys(lo)
        (n_hi,), (s_hi,) = keys(hi)
        if caught_by == "shift":
            assert n_lo != n_hi and s_lo == s_hi
        else:
            assert n_lo == n_hi and s_lo != s_hi


def test_six_decimal_rounding_shares_a_cell_on_one_grid():
    # "%.6f" moves a value by up to 5e-7, less than half a step (2**-19, about 1.9e-6):
    # every value in (-1, 1) (absolute grid) and above (relative grid) agrees with its
    # rounded text on at least one of the two grids
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.uniform(-1, 1, 20000), rng.normal(0, 3, 20000),
                             rng.uniform(-1e-5, 1e-5, 2000)])
    rounded = np.array([float(f"{v:.6f}") for v in values])
    same = (snap_bits(values) == snap_bits(rounded)) | (snap_bits(values, True) == snap_bits(rounded, True))
    assert same.all(), values[~same][:5]
    # so a one-float row always matches; values further apart than one step never do
    assert snapped(0.1) != snapped(0.1 + 1.01 * STEP) and snapped(0.1, True) != snapped(0.1 + 1.01 * STEP, True)


def test_column_order_and_types():
    a = pa.table({"x": [0.1 + 1e-12, 2.0], "n": pa.array([3, 4], pa.int32()), "f": pa.array([0.5, 1.5], pa.float32())})
    b = pa.table({"f": [0.5, 1.5], "x": [0.1, 2.0 + 1e-13], "n": [3.0, 4.0]})
    assert keys(a) == keys(b)
    nulls = pa.table({"x": pa.array([None, 1.0], pa.float64()), "n": [1, None]})
    near, shift = keys(nulls)
    assert near == fingerprint_table(nulls).to_pylist()


def test_snapshots_store_near_keys_for_files_with_floats(workdir: Path, repo):
    data = workdir / "data"
    data.mkdir()
    (data / "floats.csv").write_text("a,b,y\n0.1,2,1\n0.30000000000000004,3,0\n")
    (data / "ints.csv").write_text("a,b\n1,2\n3,4\n")
    (data / "note.bin").write_bytes(b"\x00\x01")
    snap = lineage.snapshot(data, repo=repo, name="d")
    fps = load_fingerprints(repo, snap.id)
    assert fps.column_names[:7] == ["file", "row", "fp", "fp_features", "group", "time", "label"]
    assert fps.column_names[7:] == ["fp_near", "fp_near_shift"]
    by_file = {}
    for row in fps.to_pylist():
        by_file.setdefault(row["file"], []).append(row)
    assert all(r["fp_near"] is None and r["fp_near_shift"] is None for f in ("ints.csv", "note.bin")
               for r in by_file[f])
    floats = by_file["floats.csv"]
    assert [r["fp_near"] for r in floats] == near_fingerprints(
        pa.table({"a": [0.1, 0.3], "b": [2, 3], "y": [1, 0]}))[0].to_pylist()
    # the stored object names the grid; a table without float columns has no near keys
    rec = [f for f in lineage.tabular.load.file_records(repo, snap.id)[1] if f.path == "floats.csv"][0]
    meta = pq.read_schema(repo.store.path(rec.record.fingerprints)).metadata
    assert meta[b"lineage.near"] == b"lineage-near-2 bits=18"
    only_ints = lineage.snapshot(data / "ints.csv", repo=repo, name="ints")
    assert "fp_near" not in load_fingerprints(repo, only_ints.id).column_names


@pytest.mark.parametrize("near_keys", [True, False])
def test_compute_file_can_leave_the_near_keys_out(workdir: Path, near_keys: bool):
    from lineage.tabular.compute import compute_file
    from lineage.tabular.readers import detect

    path = workdir / "t.csv"
    path.write_text("a,b\n0.5,1\n0.25,2\n")
    meta = compute_file(str(path), detect("t.csv"), {}, display="t.csv", tmpdir=str(workdir),
                        near_keys=near_keys)
    names = pq.read_schema(meta.fingerprints_path).names
    assert ("fp_near" in names) == near_keys and ("fp_near_shift" in names) == near_keys
