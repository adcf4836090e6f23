"""The compiled kernels against the numpy reference: the same bytes on random tables of
every type in the encoding, the golden values both ways, and a snapshot's derived data
(fingerprints, near and data keys, profiles, rows key) the same with and without them."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lineage.tabular import kernels, profile, rowhash
from lineage.tabular.compute import compute_file
from lineage.tabular.readers import detect
from lineage.tabular.rowskey import file_rows_key

from test_rowhash import GOLDEN, golden_table, hexes

pytestmark = pytest.mark.skipif(kernels.get() is None, reason="numba is not available here")


def random_table(seed: int, n: int = 3000) -> pa.Table:
    rng = np.random.default_rng(seed)
    nulls = rng.random(n) < 0.1

    def masked(values, t):
        values = values.tolist() if hasattr(values, "tolist") else values
        return pa.array([None if m else v for v, m in zip(values, nulls)], t)

    floats = rng.normal(size=n) * 10.0 ** rng.integers(-12, 12, n)
    floats[rng.random(n) < 0.05] = np.nan
    floats[rng.random(n) < 0.05] = -0.0
    floats[rng.random(n) < 0.02] = np.inf
    floats[rng.random(n) < 0.02] = -np.inf
    ints = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    small = rng.random(n) < 0.5  # exactly representable as float64: tag NUM; the rest INT
    ints[small] = rng.integers(-(2**53), 2**53, int(small.sum()))
    bigs = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    words = ["caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9"), "", " a", "\u00c5ngstr\u00f6m",
             "x" * 7, "y" * 8, "z" * 9, "long " * 30, "\U0001f600 emoji"]
    text = [words[i] + (str(j) if j % 3 else "") for i, j in zip(rng.integers(0, len(words), n), range(n))]
    micros = rng.integers(-(2**50), 2**50, n)
    nanos = rng.integers(-(2**62), 2**62, n)
    days = rng.integers(-100_000, 100_000, n)
    return pa.table({
        "f": masked(floats, pa.float64()),
        "f32": masked(floats.astype(np.float32), pa.float32()),
        "i": masked(ints, pa.int64()),
        "u": masked(bigs, pa.uint64()),
        "small": masked(rng.integers(-5, 5, n), pa.int8()),
        "b": masked(rng.random(n) < 0.5, pa.bool_()),
        "s": masked(text, pa.string()),
        "ls": masked(text, pa.large_string()),
        "bin": masked([t.encode() for t in text], pa.binary()),
        "cat": masked([words[i] for i in rng.integers(0, 3, n)], pa.string()),
        "ts": masked(micros, pa.timestamp("us", "Europe/Paris")),
        "tsn": masked(nanos, pa.timestamp("ns")),
        "d": masked(days.astype(np.int32), pa.date32()),
        "t": masked(rng.integers(0, 86_400_000_000, n), pa.time64("us")),
        "dur": masked(micros, pa.duration("ms")),
        "dec": masked([None if i % 5 else f"{i}.25" for i in range(n)], pa.string()).cast(pa.decimal128(12, 2)),
        "nest": masked([[{"k": i / 3, "w": words[i % len(words)]}] * (i % 3) for i in range(n)],
                       pa.list_(pa.struct([("k", pa.float64()), ("w", pa.string())]))),
    })


def to_hex(arr) -> list[str | None]:
    return [None if b is None else b.hex() for b in arr.to_pylist()]


def test_golden_values_both_ways(reference):
    assert hexes(golden_table()) == GOLDEN
    assert reference(hexes, golden_table()) == GOLDEN


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_column_type_hashes_alike(seed, reference):
    table = random_table(seed)
    for name in table.column_names:
        col = table.column(name)
        got, want = rowhash.value_hashes(col), reference(rowhash.value_hashes, col)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), name
    assert to_hex(rowhash.fingerprint_table(table)) == to_hex(reference(rowhash.fingerprint_table, table))
    near, near_ref = rowhash.near_fingerprints(table), reference(rowhash.near_fingerprints, table)
    assert [to_hex(a) for a in near] == [to_hex(a) for a in near_ref]


def test_floats_snap_alike_at_the_edges(reference):
    rng = np.random.default_rng(7)
    edges = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5, 2.0**-19, -(2.0**-19),
             3 * 2.0**-19, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 1 - 2.0**-53]
    f = np.concatenate([rng.normal(size=20_000) * 10.0 ** rng.integers(-9, 9, 20_000), edges])
    for shifted in (False, True):
        assert np.array_equal(rowhash.snap_bits(f, shifted), reference(rowhash.snap_bits, f, shifted))
    assert np.array_equal(rowhash._float_payload(f), reference(rowhash._float_payload, f))


def test_distinct_counts_alike(reference):
    rng = np.random.default_rng(3)
    h = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64)
    h[:4] = [0, 1, 2**64 - 1, (2**64 - 1) >> 12]
    a, b = np.zeros(1 << profile.HLL_P, np.uint8), np.zeros(1 << profile.HLL_P, np.uint8)
    profile.hll_add(a, h)
    reference(profile.hll_add, b, h)
    assert np.array_equal(a, b)


def test_snapshot_derived_data_alike_and_in_row_order(tmp_path, reference):
    """Several batches fingerprinted on worker threads: the same file, in row order, as
    the numpy path on one table."""
    n = 150_000  # three batches
    rng = np.random.default_rng(5)
    table = pa.table({
        "index": pa.array(np.arange(n), pa.int64()),
        "x": rng.normal(size=n), "y": pa.array(rng.integers(0, 9, n)),
        "s": pa.array([f"v{i % 1234}" for i in range(n)]),
        "when": pa.array(rng.integers(0, 2**40, n), pa.timestamp("us", "UTC")),
        "label": pa.array(rng.integers(0, 3, n)),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=40_000)
    decl = {"label": "label", "group": "s", "time": "when"}
    ours = compute_file(str(path), detect(str(path)), decl, display="t.parquet", tmpdir=str(tmp_path))
    ref = reference(compute_file, str(path), detect(str(path)), decl, display="t.parquet", tmpdir=str(tmp_path))
    a, b = pq.read_table(ours.fingerprints_path), pq.read_table(ref.fingerprints_path)
    assert a.num_rows == n and a.column("row").to_pylist() == list(range(n))
    assert a.equals(b)
    assert to_hex(a.column("fp").combine_chunks()) == to_hex(rowhash.fingerprint_table(table))
    assert json.dumps(ours.profile, sort_keys=True) == json.dumps(ref.profile, sort_keys=True)
    assert ours.rows_key == ref.rows_key == file_rows_key(ours.fingerprints_path)


def test_streamed_batches_with_nulls_alike(tmp_path, reference):
    """Nulls in a snapped float column and in the group column, a label column and no
    index-like column: the column-at-a-time compiled pass writes the reference bytes."""
    n = 70_000  # two batches
    rng = np.random.default_rng(8)
    holes = rng.random(n) < 0.2
    table = pa.table({
        "b": pa.array(rng.normal(size=n), mask=holes), "a": rng.normal(size=n).astype(np.float32),
        "g": pa.array([f"g{i % 17}" for i in range(n)], mask=rng.random(n) < 0.1),
        "y": pa.array(rng.integers(0, 2, n)),
    })
    path = tmp_path / "n.parquet"
    pq.write_table(table, path)
    decl = {"label": "y", "group": "g"}
    ours = compute_file(str(path), detect(str(path)), decl, display="n.parquet", tmpdir=str(tmp_path))
    ref = reference(compute_file, str(path), detect(str(path)), decl, display="n.parquet", tmpdir=str(tmp_path))
    a, b = pq.read_table(ours.fingerprints_path), pq.read_table(ref.fingerprints_path)
    assert "fp_near" in a.column_names and a.column("group").null_count > 0
    assert a.equals(b)
    assert json.dumps(ours.profile, sort_keys=True) == json.dumps(ref.profile, sort_keys=True)


def test_no_numba_means_the_numpy_path(monkeypatch):
    monkeypatch.setenv("LINEAGE_NO_JIT", "1")
    assert kernels.get() is None
    assert hexes(golden_table()) == GOLDEN
    monkeypatch.delenv("LINEAGE_NO_JIT")
    assert kernels.get() is not None


def test_dates_and_zones(reference):
    t = pa.table({
        "d": pa.array([dt.date(2024, 1, 5), None, dt.date(1900, 1, 1)], pa.date32()),
        "z": pa.array([dt.datetime(2024, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=5)))] * 3,
                      pa.timestamp("s", "Asia/Karachi")),
    })
    assert to_hex(rowhash.fingerprint_table(t)) == to_hex(reference(rowhash.fingerprint_table, t))


LOADS = """
import sys
import pyarrow as pa
from lineage.tabular import kernels
from lineage.tabular.rowhash import fingerprint_table
fingerprint_table(pa.table({"x": list(range(int(sys.argv[1])))}))
print(kernels._STATE.get("k") is not None, "numba" in sys.modules)
"""


@pytest.mark.parametrize(("rows", "loaded"), [(1000, False), (kernels.MIN_VALUES, True)])
def test_kernels_are_loaded_for_large_tables_only(rows, loaded):
    """A small table (and any command that hashes none) loads no kernels; the C build
    never imports numba."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", LOADS, str(rows)], capture_output=True, text=True, check=True)
    numba = loaded and kernels.get().BACKEND == "numba"
    assert out.stdout.strip() == f"{loaded} {numba}"


@pytest.fixture(params=["c", "numba"])
def backend(request, monkeypatch):
    """Each build of the kernels in turn (skipped where it cannot load)."""
    monkeypatch.setenv("LINEAGE_KERNELS", request.param)
    monkeypatch.setattr(kernels, "_STATE", {})
    k = kernels.get()
    if k is None or k.BACKEND != request.param:
        pytest.skip(f"the {request.param} kernels cannot load here")
    return k


def test_each_build_hashes_like_the_reference(backend, reference):
    t = random_table(11, 5000)
    assert hexes(golden_table()) == GOLDEN
    for name in t.column_names:
        ours = rowhash.value_hashes(t.column(name))
        ref = reference(rowhash.value_hashes, t.column(name))
        assert np.array_equal(ours[0], ref[0]) and np.array_equal(ours[1], ref[1]), name
    for shifted in (False, True):
        assert np.array_equal(rowhash.snap_bits(t.column("f").to_numpy(zero_copy_only=False), shifted),
                              reference(rowhash.snap_bits, t.column("f").to_numpy(zero_copy_only=False), shifted))


def test_distinct_strings_like_value_counts():
    k = kernels.get()
    if not hasattr(k, "distinct_strings"):
        pytest.skip("only the C build counts strings")
    words = ["a", "b", "", "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9"), "a" * 20, "b"]
    arr = pa.array([words[i] for i in np.random.default_rng(3).integers(0, len(words), 5000)], pa.string())
    for a in (arr, arr.slice(7, 3000), arr.cast(pa.large_string())):
        # equal hashes for every value: the bytes alone tell them apart
        first, counts = k.distinct_strings(a, np.zeros(len(a), np.uint64))
        vc = a.value_counts()
        assert a.take(pa.array(first)).to_pylist() == vc.field("values").to_pylist()
        assert counts.tolist() == vc.field("counts").to_pylist()
    with pytest.raises(TypeError):
        k.distinct_strings(pa.array([1, 2]), np.zeros(2, np.uint64))


def test_kernel_constants_are_the_reference_ones():
    from lineage.tabular import _jit

    for name in ("M1", "M2", "SEEDS", "CANONICAL_NAN", "_MAGNITUDE", "_INF_BITS", "_ONE_BITS",
                 "NEAR_BITS", "_NEAR_DROP", "_NEAR_SCALE", "_MAX_SNAPPED"):
        assert getattr(_jit, name) == getattr(rowhash, name), name
    assert _jit.HLL_P == profile.HLL_P


def test_c_kernel_constants_are_the_reference_ones(monkeypatch):
    monkeypatch.setenv("LINEAGE_KERNELS", "c")
    monkeypatch.setattr(kernels, "_STATE", {})
    k = kernels.get()
    if k is None:
        pytest.skip("the C kernels cannot load here")
    assert k.constants == [rowhash.M1, rowhash.M2, *rowhash.SEEDS, rowhash.CANONICAL_NAN, rowhash._MAGNITUDE,
                           rowhash._INF_BITS, rowhash._ONE_BITS, rowhash.NEAR_BITS, profile.HLL_P]


def test_c_kernels_compile_once_into_their_cache(tmp_path, monkeypatch):
    """The C build is compiled once into the cache folder, and the next process loads it."""
    import shutil

    if shutil.which("cc") is None:
        pytest.skip("no C compiler here")
    monkeypatch.setenv("LINEAGE_KERNEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LINEAGE_KERNELS", "c")
    monkeypatch.setattr(kernels, "_STATE", {})
    k = kernels.get()
    assert k is not None and k.BACKEND == "c"
    built = list((tmp_path / "cache").glob("_kernels-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    monkeypatch.setattr(kernels, "_STATE", {})
    assert kernels.get().BACKEND == "c"
    assert list((tmp_path / "cache").glob("*")) == built and built[0].stat().st_mtime_ns == stamp
    assert hexes(golden_table()) == GOLDEN


def test_without_a_compiler_the_next_build_or_numpy(tmp_path, monkeypatch):
    """A C compiler that fails leaves no library behind, and the values stay the same."""
    monkeypatch.setenv("LINEAGE_KERNEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr(kernels, "_STATE", {})
    k = kernels.get()
    assert k is None or k.BACKEND == "numba"
    assert not list((tmp_path / "cache").glob("*"))
    assert hexes(golden_table()) == GOLDEN
    t = random_table(5, 40_000)
    monkeypatch.setattr(kernels, "_STATE", {})
    monkeypatch.setenv("LINEAGE_KERNELS", "c")
    assert kernels.get() is None  # only the C build asked for, and it cannot compile
    ref = rowhash.fingerprint_table(t)
    monkeypatch.delenv("CC")
    monkeypatch.setattr(kernels, "_STATE", {})
    assert kernels.get() is not None
    assert rowhash.fingerprint_table(t).equals(ref)
