"""Rows compared by their data keys: a copy that gained pandas' index column is still a copy."""

from __future__ import annotations

import random

from audit.conftest import Lab


def rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"a": round(rng.uniform(0, 10), 3), "b": rng.randint(0, 99), "c": round(rng.gauss(0, 1), 4),
             "label": rng.randint(0, 1)} for _ in range(n)]


def scored(lab: Lab, train: list[dict], test: list[dict]) -> str:
    lab.table("data/train.csv", train, name="train", label_column="label")
    lab.table("data/test.csv", test, name="test", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    return lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")],
                   metrics=[("accuracy", 0.9, "test")])


def test_test_rows_appended_with_an_index_column_are_exact_overlap(lab):
    train, test = rows(40, 1), rows(20, 2)
    appended = [{"": i, **r} for i, r in enumerate(train + test[:5])]  # pandas' to_csv(path)
    ev = scored(lab, appended, test)
    [f] = [f for f in lab.audit(ev, ["exact-overlap"]).findings]
    assert f.evidence["overlap"] == 5
    assert "index columns" in f.message and "train.csv" in f.message
    assert f.evidence["index_columns_left_out"][0]["files"] == ["train.csv"]
    # exact copies are not near-duplicates too
    assert lab.audit(ev, ["near-duplicate"]).findings == []


def test_index_columns_on_both_sides(lab):
    train, test = rows(40, 3), rows(20, 4)
    ev = scored(lab, [{"Unnamed: 0": i, **r} for i, r in enumerate(train)],
                [{"": 100 + i, **r} for i, r in enumerate(test + train[:2])])
    [f] = lab.audit(ev, ["exact-overlap"]).findings
    assert f.evidence["overlap"] == 2


def test_clean_split_with_index_columns_is_silent(lab):
    train, test = rows(40, 5), rows(20, 6)
    ev = scored(lab, [{"": i, **r} for i, r in enumerate(train)],
                [{"": i, **r} for i, r in enumerate(test)])
    assert lab.audit(ev, ["exact-overlap", "near-duplicate", "label-conflict"]).findings == []


def test_an_integer_column_with_another_name_stays_part_of_the_row(lab):
    train, test = rows(40, 7), rows(20, 8)
    ev = scored(lab, [{"row_id": i, **r} for i, r in enumerate(train + test[:5])], test)
    assert lab.audit(ev, ["exact-overlap"]).findings == []
