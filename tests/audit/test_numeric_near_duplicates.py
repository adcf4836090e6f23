"""`near-duplicate` on numbers: held-out rows that are training rows plus rounding noise."""

from __future__ import annotations

import random

import pytest

from audit.conftest import Lab

STEP = 2.0 ** -18  # the near grid's step on [0, 2) (schemas/FINGERPRINTS.md)


def float_rows(n: int, seed: int, columns: int = 5) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": i, **{f"x{c}": rng.gauss(0, 10 ** rng.randint(-2, 3)) for c in range(columns)},
             "label": rng.randint(0, 1)} for i in range(n)]


def noisy(row: dict, rel: float, rng: random.Random) -> dict:
    return {k: v * (1 + rel * rng.choice((-1, 1))) if isinstance(v, float) else v for k, v in row.items()}


def pipeline(lab: Lab, train: list[dict], test: list[dict]) -> str:
    lab.table("data/train.csv", train, name="train", label_column="label")
    lab.table("data/test.csv", test, name="test", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    return lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")],
                   metrics=[("accuracy", 0.9, "test")])


def near(lab: Lab, run_id: str):
    return [f for f in lab.audit(run_id, ["near-duplicate"]).findings if f.evidence.get("kind") == "numeric"]


@pytest.mark.parametrize("rel", [1e-9, 1e-7])
def test_fires_on_noisy_copies_of_training_rows(lab, rel):
    rng = random.Random(7)
    base = float_rows(120, seed=1)
    train, fresh = base[:100], [{**r, "id": 1000 + r["id"]} for r in float_rows(30, seed=2)]
    test = [noisy(r, rel, rng) for r in train[:20]] + fresh
    ev = pipeline(lab, train, test)
    [f] = near(lab, ev)
    assert f.severity == "error" and f.rule == "near-duplicate"
    assert f.evidence["rows"] == 50
    if rel == 1e-9:
        assert f.evidence["near_duplicates"] == 20
    else:  # noise of a tenth of a step: a copy is missed only when both grids split a value
        assert 10 <= f.evidence["near_duplicates"] <= 20
    assert {e["row"] for e in f.evidence["examples"]} <= set(range(20))
    assert "exact-overlap" not in lab.slugs(ev)


@pytest.mark.parametrize("base", [1.0, 0.25])
def test_values_straddling_a_rounding_boundary(lab, base):
    # base + STEP/2 is where the first grid rounds up (relative grid above 1, absolute
    # below): the shifted grid keeps both sides together
    train = [{"x": base + 0.5 * STEP - 1e-13, "y": 2.5 + i, "z": 0.125 * i + 0.3, "label": i % 2}
             for i in range(10)]
    test = [{**r, "x": base + 0.5 * STEP + 1e-13} for r in train[:3]]
    test += [{"x": 50.0 + i, "y": 0.5, "z": 7.25, "label": 0} for i in range(7)]
    ev = pipeline(lab, train, test)
    [f] = near(lab, ev)
    assert f.evidence["near_duplicates"] == 3


def test_rows_rounded_to_six_decimals(lab):
    # a re-export with float_format="%.6f": values in (-1, 1) move by up to 5e-7 absolute
    rng = random.Random(9)
    train = [{"id": i, **{f"x{c}": rng.uniform(-1, 1) for c in range(5)}, "label": rng.randint(0, 1)}
             for i in range(100)]
    fresh = [{"id": 1000 + i, **{f"x{c}": rng.uniform(-1, 1) for c in range(5)}, "label": 0} for i in range(20)]
    test = [{k: float(f"{v:.6f}") if isinstance(v, float) else v for k, v in r.items()} for r in train[:20]]
    ev = pipeline(lab, train, test + fresh)
    [f] = near(lab, ev)
    # at 5 columns a copy is missed only when both grids split one of its values (rare)
    assert 15 <= f.evidence["near_duplicates"] <= 20
    assert "exact-overlap" not in lab.slugs(ev)


def test_columns_reordered(lab):
    rng = random.Random(3)
    train = float_rows(50, seed=4)
    fresh = [{**r, "id": 500 + i} for i, r in enumerate(float_rows(5, seed=5))]
    test = [dict(reversed(list(r.items()))) for r in [noisy(r, 1e-9, rng) for r in train[:5]] + fresh]
    ev = pipeline(lab, train, test)
    [f] = near(lab, ev)
    assert f.evidence["near_duplicates"] == 5


def test_silent_on_real_differences(lab):
    train = float_rows(60, seed=6)
    test = [{k: v * (1 + 1e-3) if isinstance(v, float) else v for k, v in r.items()} for r in train[:20]]
    ev = pipeline(lab, train, test)
    assert lab.audit(ev, ["near-duplicate"]).findings == []


def test_exact_copies_are_exact_overlaps_only(lab):
    train = float_rows(60, seed=8)
    test = train[:10] + [{**r, "id": 900 + r["id"]} for r in float_rows(10, seed=9)]
    ev = pipeline(lab, train, test)
    assert lab.audit(ev, ["near-duplicate"]).findings == []
    [f] = lab.audit(ev, ["exact-overlap"]).findings
    assert f.evidence["overlap"] == 10


def test_exact_copies_beside_near_copies_are_not_counted(lab):
    rng = random.Random(10)
    train = float_rows(60, seed=11)
    test = train[:4] + [noisy(r, 1e-9, rng) for r in train[4:10]]
    ev = pipeline(lab, train, test)
    [f] = near(lab, ev)
    assert f.evidence["near_duplicates"] == 6 and f.evidence["rows"] == 10


def test_integer_table_against_noisy_floats(lab):
    # training rows without float columns have no near keys: their exact fingerprint is one
    train = [{"a": i, "b": 2 * i, "c": 3 * i, "label": i % 2} for i in range(40)]
    test = [{"a": float(r["a"]) * (1 + 1e-12) + 1e-13, "b": float(r["b"]) * (1 - 1e-12) - 1e-13,
             "c": float(r["c"]) * (1 + 1e-12) + 1e-13, "label": r["label"]} for r in train[1:6]]
    ev = pipeline(lab, train, test)
    [f] = near(lab, ev)
    assert f.evidence["near_duplicates"] == 5


def test_snapshots_recorded_without_near_keys_are_skipped(lab, monkeypatch):
    from lineage.tabular import rowhash

    rng = random.Random(12)
    train = float_rows(60, seed=13)
    with monkeypatch.context() as m:  # as recorded before near keys existed
        m.setattr(rowhash, "is_float_type", lambda t: False)
        lab.table("data/train.csv", train, name="train", label_column="label")
        lab.table("data/test.csv", [noisy(r, 1e-9, rng) for r in train[:5]], name="test",
                  label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["near-duplicate"]).findings == []


def test_text_near_duplicates_stay_one_level_lower(lab):
    texts = [f"the patient reported mild symptoms on day {i} and recovered after rest number {i * 7}"
             for i in range(30)]
    train = [{"text": t, "label": i % 2} for i, t in enumerate(texts[:25])]
    test = [{"text": t, "label": i % 2} for i, t in enumerate(texts[25:])]
    test.append({"text": texts[3].replace("mild", "mild,"), "label": 1})
    lab.table("data/train.csv", train, name="train", text_column="text", label_column="label")
    lab.table("data/test.csv", test, name="test", text_column="text", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    [f] = lab.audit(ev, ["near-duplicate"]).findings
    assert f.evidence["kind"] == "text" and f.severity == "warning"


def _sklearn_frames():
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.model_selection import train_test_split

    out = []
    for name in ("iris", "digits", "breast_cancer", "wine", "diabetes"):
        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        out.append((name, frame))
        if name == "digits":
            scaled = frame.copy()
            scaled[scaled.columns[:-1]] = scaled[scaled.columns[:-1]] / 16.0  # floats, not integers
            out.append(("digits/16", scaled))
    return [(name, *train_test_split(frame, test_size=0.25, random_state=seed))
            for name, frame in out for seed in (0, 1)]


@pytest.mark.parametrize("index", range(12))
def test_silent_on_clean_splits_of_real_data(lab, index):
    """iris, digits (integers, and /16), breast_cancer, wine, diabetes: two random splits each."""
    name, train, test = _sklearn_frames()[index]
    (lab.root / "data").mkdir(exist_ok=True)
    train.to_csv(lab.root / "data/train.csv", index=False)
    test.to_csv(lab.root / "data/test.csv", index=False)
    from lineage import snapshots

    snapshots.create(lab.repo, lab.root / "data/train.csv", name="train", label_column="target")
    snapshots.create(lab.repo, lab.root / "data/test.csv", name="test", label_column="target")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["near-duplicate"]).findings == [], name
    # the same split with ten test rows replaced by noisy training rows fires
    rng = random.Random(index)
    leaked = test.copy()
    floats = [c for c in train.columns if train[c].dtype.kind == "f"]
    if not floats:
        return  # integer tables have no near keys beyond the exact fingerprint
    copies = train.iloc[:10].copy()
    copies[floats] = copies[floats] * (1 + 1e-9 * rng.choice((-1, 1)))
    leaked.iloc[:10] = copies.values
    leaked.to_csv(lab.root / "data/test_leak.csv", index=False)
    snapshots.create(lab.repo, lab.root / "data/test_leak.csv", name="test_leak", label_column="target")
    ev2 = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test_leak.csv")])
    [f] = near(lab, ev2)
    assert f.evidence["near_duplicates"] >= 9, name  # a copy of a zero-noise row would be exact


def test_silent_with_fewer_than_three_float_columns(lab):
    """Two saturated probabilities agree to 1e-6 by chance: stacked predictions of distinct
    rows are no copies."""
    train = [{"lr": 1 - 1e-5 * (1 + (i % 7) * 1e-8), "rf": 1.0, "label": 1} for i in range(30)]
    train += [{"lr": 0.1 + 0.01 * i, "rf": 0.2 + 0.01 * i, "label": 0} for i in range(30)]
    test = [{"lr": 1 - 1e-5 * (1 + 3.5e-8), "rf": 1.0, "label": 1}]
    test += [{"lr": 0.7 + 0.001 * i, "rf": 0.65, "label": 0} for i in range(9)]
    ev = pipeline(lab, train, test)
    assert near(lab, ev) == []
