"""Column profiles (streaming, merged) and the drift distances computed from them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from lineage.errors import UsageError
from lineage.tabular import (jensen_shannon, ks_from_profiles, merge_profiles, psi,
                             wasserstein_from_profiles)
from lineage.tabular.profile import ColumnProfiler, column_kind
from lineage.tabular.rowhash import value_hashes


def profile(values, batch: int = 50_000) -> dict:
    arr = pa.array(values)
    p = ColumnProfiler("c", str(arr.type), column_kind(arr.type))
    for start in range(0, len(arr), batch):
        chunk = arr.slice(start, batch)
        p.update(chunk, value_hashes(chunk)[0])
    return p.result()


def test_numeric_profile_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(10, 2, 300_000)
    p = profile(x)
    assert p["count"] == 300_000 and p["nulls"] == 0
    assert p["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert p["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)
    assert p["min"] == x.min() and p["max"] == x.max()
    q = np.quantile(x, np.linspace(0, 1, 257))
    # quantile summary: rank error well below 1 %
    ranks = np.searchsorted(np.sort(x), p["quantiles"]) / len(x)
    assert np.max(np.abs(ranks - np.linspace(0, 1, 257))) < 0.01
    assert p["quantiles"][0] == q[0] and p["quantiles"][-1] == q[-1]
    assert abs(p["distinct"] - 300_000) / 300_000 < 0.05  # HyperLogLog


def test_nulls_nan_inf_and_categorical():
    p = profile([1.0, None, float("nan"), float("inf"), 3.0])
    assert (p["nulls"], p["nan"], p["inf"], p["valid"], p["mean"]) == (1, 1, 1, 2, 2.0)
    c = profile(["a", "b", "a", None, "c", "a"])
    assert c["kind"] == "categorical"
    assert c["top"] == [["a", 3], ["b", 1], ["c", 1]] and c["other"] == 0
    assert c["distinct"] == 3 and c["distinct_exact"]


def test_many_categories_keep_a_correct_top():
    values = [f"v{i}" for i in range(150_000)] + ["hot"] * 500 + ["warm"] * 200
    c = profile(values)
    assert c["top"][0] == ["hot", 500] and c["top"][1] == ["warm", 200]
    assert not c["distinct_exact"] and abs(c["distinct"] - 150_002) / 150_002 < 0.05
    assert c["other"] == len(values) - sum(v for _, v in c["top"])


def test_merge_profiles_equals_profile_of_the_union():
    rng = np.random.default_rng(5)
    a, b = rng.exponential(1, 40_000), rng.exponential(3, 60_000)
    merged = merge_profiles([{"c": profile(a)}, {"c": profile(b)}])["c"]
    whole = profile(np.concatenate([a, b]))
    for k in ("count", "valid", "min", "max"):
        assert merged[k] == whole[k]
    assert merged["mean"] == pytest.approx(whole["mean"], rel=1e-12)
    assert merged["std"] == pytest.approx(whole["std"], rel=1e-9)
    assert ks_from_profiles(merged, whole) < 0.01


def test_ks_and_wasserstein_agree_with_scipy():
    rng = np.random.default_rng(11)
    a, b = rng.normal(0, 1, 100_000), rng.normal(0.3, 1.2, 80_000)
    pa_, pb_ = profile(a), profile(b)
    assert ks_from_profiles(pa_, pb_) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=0.01)
    assert wasserstein_from_profiles(pa_, pb_) == pytest.approx(stats.wasserstein_distance(a, b), rel=0.03)
    assert ks_from_profiles(pa_, pa_) == 0 and wasserstein_from_profiles(pa_, pa_) == 0


def test_psi_and_jensen_shannon():
    rng = np.random.default_rng(2)
    same_a, same_b = profile(rng.normal(0, 1, 50_000)), profile(rng.normal(0, 1, 50_000))
    shifted = profile(rng.normal(1, 1, 50_000))
    assert psi(same_a, same_b) < 0.01
    assert psi(same_a, shifted) > 0.25
    assert jensen_shannon(same_a, same_b) < 0.01 < jensen_shannon(same_a, shifted)
    cat_a = profile(["x"] * 50 + ["y"] * 50)
    cat_b = profile(["z"] * 100)
    assert jensen_shannon(cat_a, cat_a) == 0
    assert jensen_shannon(cat_a, cat_b) == pytest.approx(1.0)
    # JS divergence in bits of (0.5, 0.5) vs (0.9, 0.1)
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    m = (p + q) / 2
    expected = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    assert jensen_shannon(cat_a, profile(["x"] * 90 + ["y"] * 10)) == pytest.approx(expected)


def test_incomparable_profiles_raise_a_clear_error():
    with pytest.raises(UsageError, match="numeric"):
        ks_from_profiles(profile(["a"]), profile([1.0]))
    with pytest.raises(UsageError, match="cannot be compared"):
        jensen_shannon(profile(["a"]), profile([1.0]))


def test_value_objects_round_trip():
    from lineage.tabular.neardup import NearDuplicate
    from lineage.tabular.report import FileSchema, RowDiff, TabularDescription

    fs = FileSchema("a.csv", "csv", "ok", None, 2, [{"name": "x", "type": "int64", "kind": "numeric"}], ["n"], None)
    td = TabularDescription("0" * 64, "lineage-fp-1", {"label": "y"}, 2, [fs])
    assert TabularDescription.from_dict(td.to_dict()) == td
    rd = RowDiff("a" * 64, "b" * 64, 3, 4, 1, 0, 3, [{"file": "f", "row": 1, "fp": "00" * 16}], [])
    assert RowDiff.from_dict(rd.to_dict()) == rd
    nd = NearDuplicate("a", 1, "b", 2, 0.9, 0.88)
    assert NearDuplicate.from_dict(nd.to_dict()) == nd
