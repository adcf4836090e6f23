"""The profile partials' compiled helpers: branch-free HyperLogLog updates and text counts
into per-thread buffers give what the plain kernels give; integer and time columns skip
the NaN check, float columns keep it."""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from lineage.tabular import kernels, profile, rowhash


def c_kernels():
    k = kernels.get()
    if k is None or not hasattr(k, "distinct_strings_into"):
        pytest.skip("only the C build has these kernels")
    return k


def words_array(seed: int, n: int = 5000) -> pa.Array:
    words = ["a", "b", "", "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9"), "a" * 20, "b" * 9]
    return pa.array([words[i] for i in np.random.default_rng(seed).integers(0, len(words), n)], pa.string())


def test_hll_update_max_gives_the_same_registers():
    k = c_kernels()
    rng = np.random.default_rng(5)
    h = rng.integers(0, 2 ** 64, size=20_000, dtype=np.uint64)
    h[:50] = 0  # rank 53: the largest
    valid = rng.random(len(h)) < 0.7
    for start in (np.zeros(1 << 12, np.uint8), rng.integers(0, 9, 1 << 12).astype(np.uint8)):
        for v in (None, valid):
            a, b = start.copy(), start.copy()
            k.hll_update(h, a, v)
            k.hll_update_max(h, b, v)
            assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        k.hll_update_max(h, np.zeros(1 << 12, np.uint8), valid[:10])


def test_distinct_strings_into_counts_like_distinct_strings():
    k = c_kernels()
    first, counts = np.empty(6000, np.int64), np.empty(6000, np.int64)
    table = np.empty(1 << 14, np.int32)
    for seed, a in ((1, words_array(1)), (2, words_array(2).slice(7, 3000)), (3, words_array(3, 40))):
        # equal hashes for every value: the bytes alone tell them apart; the table is reused
        for hashes in (np.zeros(len(a), np.uint64), rowhash.value_hashes(a)[0]):
            d = k.distinct_strings_into(a, hashes, first, counts, table)
            ref_first, ref_counts = k.distinct_strings(a, np.zeros(len(a), np.uint64))
            assert first[:d].tolist() == ref_first.tolist()
            assert counts[:d].tolist() == ref_counts.tolist()
            vc = a.value_counts()
            assert a.take(pa.array(first[:d])).to_pylist() == vc.field("values").to_pylist()


def test_distinct_strings_into_refuses_bad_arguments():
    k = c_kernels()
    a = words_array(4, 100)
    first, counts = np.empty(100, np.int64), np.empty(100, np.int64)
    h = np.zeros(100, np.uint64)
    with pytest.raises(ValueError):  # too few slots
        k.distinct_strings_into(a, h, first, counts, np.empty(128, np.int32))
    with pytest.raises(ValueError):  # not a power of two
        k.distinct_strings_into(a, h, first, counts, np.empty(300, np.int32))
    with pytest.raises(ValueError):
        k.distinct_strings_into(a, h, first[:50], counts, np.empty(256, np.int32))
    with pytest.raises(ValueError):
        k.distinct_strings_into(a, h[:50], first, counts, np.empty(256, np.int32))
    with pytest.raises(TypeError):
        k.distinct_strings_into(a.cast(pa.large_string()), h, first, counts, np.empty(256, np.int32))
    with pytest.raises(TypeError):
        k.distinct_strings_into(a, h, first.astype(np.int32), counts, np.empty(256, np.int32))


def test_value_counts_use_the_thread_buffers_up_to_the_limit(monkeypatch):
    c_kernels()
    a = words_array(6, 40_000)
    h = rowhash.value_hashes(a)[0]
    ours = profile._value_counts(a, h)
    bufs = profile._SCRATCH.bufs
    assert profile._value_counts(a.slice(5, 30_000), h[5:30_005]).to_pylist() == \
        a.slice(5, 30_000).value_counts().to_pylist()
    assert profile._SCRATCH.bufs is bufs  # kept between batches
    assert ours.to_pylist() == a.value_counts().to_pylist()
    # past the limit a batch counts in buffers of its own and leaves the thread's alone
    monkeypatch.setattr(profile, "SCRATCH_VALUES", 1000)
    assert profile._value_counts(a, h).to_pylist() == ours.to_pylist()
    assert profile._SCRATCH.bufs is bufs
    # each thread has its own
    seen = []
    th = threading.Thread(target=lambda: seen.append(getattr(profile._SCRATCH, "bufs", None)))
    th.start()
    th.join()
    assert seen == [None]


def test_integer_and_time_columns_skip_the_nan_check_floats_keep_it(monkeypatch):
    calls = []
    real = np.isfinite
    monkeypatch.setattr(np, "isfinite", lambda x, *a, **kw: calls.append(len(x)) or real(x, *a, **kw))
    ints = pa.array([3, None, -7, 2 ** 62], pa.int64())
    times = pa.array([dt.datetime(2020, 1, 1), None, dt.datetime(1960, 5, 6)], pa.timestamp("us"))
    for arr, kind in ((ints, "numeric"), (times, "temporal")):
        p = profile.ColumnProfiler("c", str(arr.type), kind)
        part = p.partial(arr, np.zeros(len(arr), np.uint64))
        assert (part["nan"], part["inf"]) == (0, 0) and part["moments"][0] == len(arr) - arr.null_count
    assert calls == []
    floats = pa.array([1.0, float("nan"), None, float("inf"), -float("inf"), 2.5])
    p = profile.ColumnProfiler("f", "double", "numeric")
    part = p.partial(floats, np.zeros(len(floats), np.uint64))
    assert calls and (part["nan"], part["inf"]) == (1, 2) and part["moments"][0] == 2
