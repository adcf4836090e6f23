"""The table pass's one-pass kernels against the numpy reference: text and integer value
hashes, the quantile summary's merge, the rows key summed with the keys, the batches'
distinct values taken late, the shared null columns and the threads' reused buffers, and
the fingerprint file's row numbers (delta-encoded, no codec)."""

from __future__ import annotations

import pickle
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lineage.tabular import kernel, kernels, profile, rowhash
from lineage.tabular.compute import compute_file
from lineage.tabular.readers import detect
from lineage.tabular.rowskey import batch_rows_key

pytestmark = pytest.mark.skipif(kernels.get() is None or getattr(kernels.get(), "BACKEND", "") != "c",
                                reason="the C kernels are not available here")


def texts(n: int, seed: int = 0, ascii_only: bool = False) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = list("abcXYZ 0123-") + ([] if ascii_only else
                                       ["\u00e9", "e\u0301", "\u00df", "\u65e5", "\U0001f600"])
    return ["".join(rng.choice(alphabet, int(rng.integers(0, 300 if i % 50 == 0 else 40))))
            for i in range(n)]


def same(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("ascii_only", [True, False])
def test_text_hashes_in_one_pass_like_the_reference(ascii_only, reference):
    values = texts(5000, ascii_only=ascii_only)
    arrays = [pa.array(values), pa.array(values).slice(7, 4000),
              pa.array([None if i % 9 == 0 else v for i, v in enumerate(values)]),
              pa.chunked_array([pa.array(values)]), pa.array([""] * 100)]
    for arr in arrays:
        assert rowhash._compiled_value_hashes(arr) is not None
        assert same(rowhash.value_hashes(arr), reference(rowhash.value_hashes, arr))
    # NFD text hashes as its NFC form, as the reference normalises it
    nfd = pa.array([unicodedata.normalize("NFD", v) for v in values])
    assert same(rowhash.value_hashes(nfd), reference(rowhash.value_hashes, pa.array(values)))


def test_integer_hashes_in_one_pass_like_the_reference(reference):
    rng = np.random.default_rng(1)
    v = rng.integers(-(2**63), 2**63 - 1, 4000, dtype=np.int64)
    v[:12] = [0, -1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 2**63 - 512, 2**63 - 1024,
              -(2**63) + 1, 7, 2**62]
    v[2000:] = rng.integers(-(2**53), 2**53, 2000)
    for t in (pa.int64(), pa.int32(), pa.int16(), pa.int8()):
        for arr in (pa.array(v).cast(t, safe=False), pa.array(v, mask=np.arange(4000) % 7 == 0).cast(t, safe=False),
                    pa.array(v).cast(t, safe=False).slice(3)):
            assert same(rowhash.value_hashes(arr), reference(rowhash.value_hashes, arr)), t


def test_other_types_keep_the_general_path():
    for arr in (pa.array(["a", "b"], pa.large_string()), pa.array([b"a"], pa.binary()),
                pa.array([1], pa.uint64()), pa.array([1.5]), pa.chunked_array([["a"], ["b"]])):
        assert rowhash._compiled_value_hashes(arr) is None


def test_hashes_written_into_given_buffers():
    arr = pa.array(texts(100, ascii_only=True))
    out = (np.zeros(100, np.uint64), np.zeros(100, np.uint64))
    got = rowhash.value_hashes(arr, out=out)
    assert got[0] is out[0] and same(got, rowhash.value_hashes(arr))


def test_string_hashes_refuse_offsets_outside_their_data():
    k = kernels.get()
    good = pa.array(["abc", "de"])

    class Bad:  # what Arrow would not build: an offset past the end of the data
        type = pa.string()
        offset = 0

        def __len__(self) -> int:
            return 2

        def buffers(self):
            return [None, pa.py_buffer(np.array([0, 3, 99], np.int32)), good.buffers()[2]]

    with pytest.raises(ValueError):
        k.string_hashes(Bad(), 1, 2, np.empty(2, np.uint64), np.empty(2, np.uint64))
    with pytest.raises(ValueError):  # lanes of another length
        k.string_hashes(good, 1, 2, np.empty(3, np.uint64), np.empty(2, np.uint64))
    with pytest.raises(TypeError):
        k.string_hashes(pa.array([b"x"]), 1, 2, np.empty(1, np.uint64), np.empty(1, np.uint64))


def sorted_sample(rng, n: int, kind: int):
    x = (rng.normal(size=n) if kind == 0 else rng.integers(-3, 3, n).astype(float) if kind == 1
         else np.where(rng.random(n) < 0.5, -0.0, 0.0))
    w = rng.random(n) * 10 + 0.1 if kind != 1 else np.full(n, 16.0)
    order = np.argsort(x, kind="stable")
    return x[order], w[order]


def test_quantile_merge_gives_the_numpy_points(reference):
    rng = np.random.default_rng(2)
    for trial in range(60):
        q = profile.QuantileSummary(int(rng.choice([7, 100, 4096])))
        a, b = sorted_sample(rng, int(rng.integers(0, 3 * q.k)), trial % 3), \
            sorted_sample(rng, int(rng.integers(0, 3 * q.k)), trial % 3)
        got, want = q._merge(a, b), reference(q._merge, a, b)
        assert np.array_equal(got[0].view(np.uint64), np.asarray(want[0]).view(np.uint64))
        assert np.array_equal(got[1], want[1])


def test_rows_key_summed_with_the_keys_and_left_to_the_sink_without_kernels(reference):
    batch = pa.record_batch({"x": np.arange(40_000, dtype=np.float64), "s": texts(40_000, ascii_only=True)})
    plan = kernel.plan_for(batch.schema, {})
    result = kernel.batch_pass(batch, plan)
    assert result.rows_key == batch_rows_key(result.fingerprints.column(1))
    assert reference(kernel.batch_pass, batch, plan).rows_key is None


def test_distinct_values_taken_only_when_kept():
    arr = pa.array([f"v{i % 3000}" for i in range(9000)])
    v0, _ = rowhash.value_hashes(arr)
    counts = profile._value_counts(arr, v0)
    assert isinstance(counts, profile._Distinct) and len(counts) == 3000
    want = pa.compute.value_counts(arr)
    assert counts.struct().equals(want)
    assert pickle.loads(pickle.dumps(counts)).equals(want)  # an engine's worker sends the struct
    keep = pa.array([5, 0, 2999], pa.uint64())
    assert counts.take(keep).equals(want.take(keep))
    few = profile._value_counts(pa.array(["a", "b", "a"] * 20), rowhash.value_hashes(pa.array(["a", "b", "a"] * 20))[0])
    assert isinstance(few, pa.StructArray)  # a few distinct values are taken at once


def test_profiles_the_same_with_late_taken_values(reference):
    rng = np.random.default_rng(3)
    prof = profile.ColumnProfiler("s", "string", "categorical")
    ref = profile.ColumnProfiler("s", "string", "categorical")
    for _ in range(6):  # past the exact limit, so batches are trimmed to their heaviest
        arr = pa.array([f"u{x}" for x in rng.integers(0, 10**6, 60_000)])
        v0, _ = rowhash.value_hashes(arr)
        prof.update(arr, v0)
        ref.apply(reference(ref.partial, arr, v0))
    assert prof.result() == ref.result() and not prof.exact


def test_thread_buffers_and_shared_nulls_keep_batches_apart(reference):
    """Batches of different lengths on one thread, each result kept while the next is
    computed: the reused buffers never leak into an earlier batch's keys."""
    rng = np.random.default_rng(4)
    batches = [pa.record_batch({"f": rng.normal(size=n), "i": rng.integers(0, 9, n), "s": texts(n, seed=n)})
               for n in (50_000, 33_000, 50_000, 40_000)]
    plan = kernel.plan_for(batches[0].schema, {"label": "i"})
    got = [kernel.batch_pass(b, plan) for b in batches]
    for b, g in zip(batches, got):
        want = reference(kernel.batch_pass, b, plan)
        assert g.fingerprints.equals(want.fingerprints)
    assert kernel._nulls(10, pa.binary(16)) is kernel._nulls(10, pa.binary(16))
    assert kernel._nulls(10, pa.binary(16)).null_count == 10


def test_row_numbers_delta_encoded_without_a_codec(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": np.arange(70_000, dtype=np.float64)}), path)
    meta = compute_file(str(path), detect(str(path)), {}, display="t.parquet", tmpdir=str(tmp_path))
    f = pq.ParquetFile(meta.fingerprints_path)
    row = f.metadata.row_group(0).column(0)
    assert row.path_in_schema == "row" and "DELTA_BINARY_PACKED" in row.encodings
    assert row.compression == "UNCOMPRESSED"
    fp = f.metadata.row_group(0).column(1)
    assert fp.compression == "UNCOMPRESSED" and "DELTA_BINARY_PACKED" not in fp.encodings
    assert f.read(columns=["row"]).column(0).to_pylist() == list(range(70_000))
