"""Membership of 16-byte keys through the compiled hash join (kernels.members16, KeyTable16):
the same masks as the numpy path, on keys with duplicates on either side and keys that
share their first 8 bytes."""

from __future__ import annotations

import numpy as np
import pytest

from lineage.tabular import kernels
from lineage.tabular import keys as K

pytestmark = pytest.mark.skipif(kernels.get() is None or not hasattr(kernels.get(), "members16"),
                                reason="no compiled kernels here")


def _sides(seed: int, na: int, nb: int, *, lanes: int | None = None):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64 - 1, (na, 2), dtype=np.uint64, endpoint=True)
    b = rng.integers(0, 2**64 - 1, (nb, 2), dtype=np.uint64, endpoint=True)
    if lanes:  # many keys sharing their first lane, told apart by the second only
        a[:, 0] %= lanes
        b[:, 0] %= lanes
    b[:700] = a[rng.integers(0, na, 700)]
    a[:300] = a[300:600]  # duplicates on both sides
    b[900:1000] = b[:100]
    return a.view("V16").ravel(), b.view("V16").ravel()


def _by_set(a, b):
    seen = {bytes(k) for k in a}
    return np.array([bytes(k) in seen for k in b], dtype=bool)


@pytest.mark.parametrize("seed,na,nb,lanes", [(1, 60_000, 20_000, None), (2, 20_000, 60_000, None),
                                              (3, 40_000, 40_000, 37)])
def test_hash_join_masks_equal_the_numpy_path(monkeypatch, seed, na, nb, lanes):
    a, b = _sides(seed, na, nb, lanes=lanes)
    fast, fast_both = K.members(a, b), K.members_both(a, b)
    assert K._hashed_members(a, b) is not None  # the kernels answered
    monkeypatch.setattr(K, "_hashed_members", lambda *args, **kwargs: None)
    slow, slow_both = K.members(a, b), K.members_both(a, b)
    expected = _by_set(a, b)
    assert (fast == expected).all() and (slow == expected).all()
    assert all((x == y).all() for x, y in zip(fast_both, slow_both))
    assert (fast_both[0] == _by_set(b, a)).all()
    assert expected.sum() >= 700


def test_one_key_everywhere():
    a = np.full((50_000, 2), 7, dtype=np.uint64).view("V16").ravel()
    b = np.zeros((40_000, 2), dtype=np.uint64)
    b[:10] = 7
    b = b.view("V16").ravel()
    in_a, in_b = kernels.get().members16(a, b, build_mask=True, probe_mask=True, threads=2)
    assert in_a.all() and in_b.sum() == 10 and in_b[:10].all()


def test_key_table_batches_and_marks():
    a, b = _sides(4, 30_000, 10_000)
    table = kernels.get().key_table(b)
    rows = [table.probe(a[i:i + 7_000], rows=True) for i in range(0, len(a), 7_000)]
    assert (np.concatenate(rows) == _by_set(b, a)).all()
    assert (table.marked() == _by_set(a, b)).all()
    assert not kernels.get().key_table(b).marked().any()  # nothing probed, nothing marked


def test_keys_of_another_size_are_refused():
    with pytest.raises(ValueError):
        kernels.get().members16(np.zeros(4, dtype="V8"), np.zeros(4, dtype="V16"))
