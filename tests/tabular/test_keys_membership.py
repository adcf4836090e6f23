"""Sort-based membership over 128-bit row keys (lineage.tabular.keys)."""

from __future__ import annotations

import numpy as np

from lineage.tabular.keys import as_pairs, find_lanes, key_counts, lookup, members, sorted_lanes


def _keys(h, l):
    return np.stack([np.asarray(h, np.uint64), np.asarray(l, np.uint64)], axis=1).copy().view("V16").ravel()


def _reference(a, b):
    seen = {bytes(k) for k in a}
    return np.array([bytes(k) in seen for k in b], dtype=bool)


def test_members_matches_a_set_on_random_keys():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**64 - 1, size=(5000, 2), dtype=np.uint64).copy().view("V16").ravel()
    b = rng.integers(0, 2**64 - 1, size=(3000, 2), dtype=np.uint64).copy().view("V16").ravel()
    b[::7] = a[: len(b[::7])]
    got = members(a, b)
    assert got.sum() == len(b[::7])
    assert (got == _reference(a, b)).all()


def test_members_compares_all_16_bytes_when_the_first_8_agree():
    a = _keys([1, 1, 1, 2], [10, 30, 30, 5])
    b = _keys([1, 1, 1, 2, 2, 3], [10, 20, 30, 5, 6, 10])
    assert members(a, b).tolist() == [True, False, True, True, False, False]
    assert (members(a, b) == _reference(a, b)).all()


def test_members_of_nothing_and_in_nothing():
    a = _keys([1], [2])
    assert members(a, a[:0]).tolist() == []
    assert members(a[:0], a).tolist() == [False]


def test_crafted_collisions_match_a_set():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, m = rng.integers(0, 40, size=2)
        h = rng.integers(0, 3, size=n + m)
        l = rng.integers(0, 4, size=n + m)
        keys = _keys(h, l)
        a, b = keys[:n], keys[n:]
        assert (members(a, b) == _reference(a, b)).all()


def test_key_counts_and_lookup_agree_with_numpy_unique():
    rng = np.random.default_rng(2)
    keys = _keys(rng.integers(0, 5, 300), rng.integers(0, 5, 300))
    uniq, counts = key_counts(keys)
    want_uniq, want_counts = np.unique(as_pairs(keys), return_counts=True)
    assert (uniq == want_uniq).all() and (counts == want_counts).all()
    probe = as_pairs(_keys([0, 9, 4], [0, 9, 4]))
    assert (lookup(uniq, probe) == lookup(want_uniq, probe)).all()
    h, l = sorted_lanes(keys)
    found = find_lanes(h, l, probe["h"].copy(), probe["l"].copy())
    assert [(f >= 0) for f in found] == [(x >= 0) for x in lookup(want_uniq, probe)]
    assert all(h[f] == p["h"] and l[f] == p["l"] for f, p in zip(found, probe) if f >= 0)


def test_sorted_lanes_orders_by_both_lanes():
    keys = _keys([3, 1, 3, 1, 2], [1, 9, 0, 2, 5])
    h, l = sorted_lanes(keys)
    assert list(zip(h.tolist(), l.tolist())) == [(1, 2), (1, 9), (2, 5), (3, 0), (3, 1)]


def test_members_of_large_sides_matches_a_set():
    """Past ``FILTER_ABOVE`` keys the candidates are narrowed down by their leading bits
    first; the answer is the same, both ways round and with shared first lanes."""
    from lineage.tabular.keys import FILTER_ABOVE

    rng = np.random.default_rng(3)
    n = FILTER_ABOVE * 2
    a = rng.integers(0, 2**64 - 1, size=(n, 2), dtype=np.uint64)
    b = rng.integers(0, 2**64 - 1, size=(n // 3, 2), dtype=np.uint64)
    b[::5] = a[: len(b[::5])]
    b[1::5, 0] = a[: len(b[1::5]), 0]  # same first 8 bytes, other last 8: no match
    a, b = a.copy().view("V16").ravel(), b.copy().view("V16").ravel()
    for x, y in ((a, b), (b, a)):
        got = members(x, y)
        assert (got == _reference(x, y)).all()
    assert members(a, b).sum() == len(b[::5])


def test_members_both_is_members_both_ways():
    from lineage.tabular.keys import FILTER_ABOVE, members_both

    rng = np.random.default_rng(4)
    for n, m in ((FILTER_ABOVE * 2, FILTER_ABOVE // 2), (50, 30), (0, 10)):
        a = rng.integers(0, 2**64 - 1, size=(n, 2), dtype=np.uint64)
        b = rng.integers(0, 2**64 - 1, size=(m, 2), dtype=np.uint64)
        k = min(n, m) // 4
        b[:k] = a[-k:] if k else b[:0]
        a, b = a.copy().view("V16").ravel(), b.copy().view("V16").ravel()
        in_b, in_a = members_both(a, b)
        assert (in_b == _reference(b, a)).all() and (in_a == _reference(a, b)).all()
