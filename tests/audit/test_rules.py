"""Every rule fires on a realistic planted case and stays silent on a clean pipeline."""

from __future__ import annotations

import pytest

from lineage.audit.rules import Severity, catalogue
from audit.conftest import clean_pipeline, rows

DESIGN_SLUGS = {"no-test-set", "exact-overlap", "label-conflict", "near-duplicate", "group-overlap",
                "temporal-order", "fit-on-heldout", "train-read-heldout", "tune-read-test", "test-reuse",
                "selection-optimism", "distribution-shift", "dirty-code", "unversioned-input"}


def test_catalogue_has_every_design_rule_with_its_severity():
    by_slug = {r["rule"]: r for r in catalogue()}
    assert DESIGN_SLUGS <= set(by_slug)
    assert by_slug["exact-overlap"]["severity"] == "error"
    assert by_slug["fit-on-heldout"]["severity"] == "critical"
    assert by_slug["near-duplicate"]["severity"] == "error"  # numeric near-copies; text ones a level lower
    assert all(r["description"] for r in by_slug.values())


def test_clean_pipeline_has_no_finding_at_error_or_above(lab):
    ids = clean_pipeline(lab)
    lab.commit()
    for run_id in ids.values():
        assert lab.slugs(run_id, at_least="error") == set(), run_id
    from lineage import audit

    report = audit.run(lab.repo, audit.select_runs(lab.repo, all_runs=True))
    assert report.exit_code("error") == 0


def test_fit_on_heldout_scaler_fitted_before_split(lab):
    full = rows(300, seed=1)
    lab.table("data/full.csv", full, name="full", label_column="label")
    lab.write("models/scaler.json", '{"mean": 0.2}')
    fit_all = lab.run("fit", [("train", "data/full.csv")], ["models/scaler.json"])  # before the split
    lab.table("data/train.csv", full[:240])
    lab.table("data/test.csv", full[240:])
    split = lab.run("split", [("other", "data/full.csv")], ["data/train.csv", "data/test.csv"])
    scaled = [{**r, "a": round(r["a"] - 0.2, 6)} for r in full]
    lab.table("data/train_s.csv", scaled[:240])
    lab.table("data/test_s.csv", scaled[240:])
    lab.run("transform", [("model", "models/scaler.json"), ("other", "data/train.csv"),
                          ("other", "data/test.csv")], ["data/train_s.csv", "data/test_s.csv"])
    lab.write("models/model.pkl", "weights")
    lab.run("train", [("train", "data/train_s.csv")], ["models/model.pkl"])
    ev = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                 metrics=[("accuracy", 0.9, "test")])
    [f] = lab.audit(ev, ["fit-on-heldout"]).findings
    assert f.severity == "critical"
    assert f.evidence["learning_run"] == fit_all and f.evidence["split_run"] == split
    # evaluating the raw split: the fit run read every one of its rows
    raw = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test.csv")])
    [f] = lab.audit(raw, ["fit-on-heldout"]).findings
    assert f.evidence["overlap"] == 60 and f.evidence["rows"] == 60


def test_fit_on_heldout_silent_when_fitted_after_the_split(lab):
    ids = clean_pipeline(lab)
    assert lab.audit(ids["evaluate"], ["fit-on-heldout"]).findings == []
    assert lab.audit(ids["train"], ["fit-on-heldout"]).findings == []


def test_fit_on_heldout_oversampling_before_split(lab):
    base = rows(200, seed=12)
    lab.table("data/raw.csv", base, name="raw", label_column="label")
    minority = [r for r in base if r["label"] == 1]
    over = base + minority  # copies of minority rows, then split
    lab.table("data/over.csv", over, name="over", label_column="label")
    lab.run("fit", [("train", "data/raw.csv")], ["data/over.csv"])
    import random

    random.Random(3).shuffle(over)
    lab.table("data/train.csv", over[:len(over) * 3 // 4], label_column="label", name="train")
    lab.table("data/test.csv", over[len(over) * 3 // 4:], label_column="label", name="test")
    lab.run("split", [("other", "data/over.csv")], ["data/train.csv", "data/test.csv"])
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert {"fit-on-heldout", "exact-overlap"} <= lab.slugs(ev, at_least="error")


def test_exact_overlap_counts_copied_rows(lab):
    base = rows(300, seed=2)
    lab.table("data/train.csv", base[:200], name="train", label_column="label")
    leaked = base[200:290] + base[:10]  # 10 training rows copied into test
    lab.table("data/test.csv", leaked, name="test", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    [f] = lab.audit(ev, ["exact-overlap"]).findings
    assert f.severity == "error" and f.evidence["overlap"] == 10 and f.evidence["rows"] == 100
    assert {e["row"] for e in f.evidence["examples"]} <= set(range(90, 100))
    # not fit-on-heldout: train.csv is not where the test set was cut from
    assert "fit-on-heldout" not in lab.slugs(ev)


def test_exact_overlap_tolerance_and_clean(lab):
    ids = clean_pipeline(lab)
    assert "exact-overlap" not in lab.slugs(ids["evaluate"])


def test_label_conflict(lab):
    base = rows(120, seed=3)
    lab.table("data/train.csv", base[:100], name="train", label_column="label")
    flipped = [{**r, "label": 1 - r["label"]} for r in base[:3]]
    lab.table("data/test.csv", base[100:] + flipped, name="test", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    [f] = lab.audit(ev, ["label-conflict"]).findings
    assert f.severity == "warning" and f.evidence["conflicts"] == 3
    assert "exact-overlap" not in lab.slugs(ev)  # different labels: not the same row


def test_label_conflict_silent_when_labels_agree(lab):
    base = rows(120, seed=3)
    lab.table("data/train.csv", base[:100], name="train", label_column="label")
    lab.table("data/test.csv", base[100:], name="test", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["label-conflict"]).findings == []


def test_group_overlap_patients_split_by_row(lab):
    import random

    rng = random.Random(4)
    data = [{"patient_id": f"p{i // 4}", "x": round(rng.random(), 6), "label": rng.randint(0, 1)}
            for i in range(200)]
    rng.shuffle(data)
    lab.table("data/train.csv", data[:150], name="train", group_column="patient_id", label_column="label")
    lab.table("data/test.csv", data[150:], name="test", group_column="patient_id", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    [f] = lab.audit(ev, ["group-overlap"]).findings
    assert f.severity == "error" and f.evidence["shared_groups"] > 5


def test_group_overlap_silent_when_split_by_patient(lab):
    data = [{"patient_id": f"p{i // 4}", "x": i, "label": i % 2} for i in range(200)]
    lab.table("data/train.csv", data[:160], name="train", group_column="patient_id")
    lab.table("data/test.csv", data[160:], name="test", group_column="patient_id")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["group-overlap"]).findings == []


@pytest.mark.parametrize("random_split", [True, False])
def test_temporal_order(lab, random_split):
    import random

    data = [{"t": f"2024-01-{1 + i // 10:02d}T{i % 10:02d}:00:00Z", "x": i, "label": i % 2}
            for i in range(200)]
    if random_split:
        random.Random(5).shuffle(data)
    lab.table("data/train.csv", data[:160], name="train", time_column="t")
    lab.table("data/test.csv", data[160:], name="test", time_column="t")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    findings = lab.audit(ev, ["temporal-order"]).findings
    if random_split:
        [f] = findings
        assert f.severity == "error" and f.evidence["older_rows"] > 20
    else:
        assert findings == []


def test_train_read_heldout(lab):
    ids = clean_pipeline(lab)
    lab.write("models/bad.pkl", "bad")
    bad = lab.run("train", [("train", "data/train_s.csv"), ("test", "data/test_s.csv")], ["models/bad.pkl"])
    [f] = lab.audit(bad, ["train-read-heldout"]).findings
    assert f.severity == "critical"
    # training on the test split passed as training data (same content, another role),
    # then scoring that model on it
    lab.write("models/sneaky.pkl", "sneaky")
    sneaky = lab.run("train", [("train", "data/test_s.csv")], ["models/sneaky.pkl"])
    assert "train-read-heldout" not in lab.slugs(sneaky)  # not yet held out for this model
    lab.run("evaluate", [("model", "models/sneaky.pkl"), ("test", "data/test_s.csv")],
            metrics=[("accuracy", 0.99, "test")])
    assert "train-read-heldout" in lab.slugs(sneaky)
    # a validation input to a train run (early stopping) is allowed
    assert "train-read-heldout" not in lab.slugs(ids["train"])


def test_tune_read_test(lab):
    ids = clean_pipeline(lab)
    lab.write("models/best.json", '{"C": 1}')
    tune = lab.run("tune", [("train", "data/train_s.csv"), ("validation", "data/test_s.csv")],
                   ["models/best.json"])
    assert "tune-read-test" in lab.slugs(tune)
    lab.write("models/tuned.pkl", "tuned")
    lab.run("train", [("train", "data/train_s.csv"), ("model", "models/best.json")], ["models/tuned.pkl"])
    ev = lab.run("evaluate", [("model", "models/tuned.pkl"), ("test", "data/test_s.csv")])
    report = lab.audit(ev, ["tune-read-test"])
    assert report.findings and report.findings[0].evidence["tune_run"] == tune
    ok = lab.run("tune", [("train", "data/train_s.csv"), ("validation", "data/val_s.csv")])
    assert "tune-read-test" not in lab.slugs(ok)
    assert "tune-read-test" not in lab.slugs(ids["evaluate"])


def test_test_reuse_by_content_not_name(lab):
    ids = clean_pipeline(lab)
    assert "test-reuse" not in lab.slugs(ids["evaluate"])  # the first scoring passes
    # the same model scored again (a rerun of the same script) reveals nothing new
    rerun = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                    metrics=[("accuracy", 0.84, "test")])
    assert lab.audit(rerun, ["test-reuse"]).findings == []
    lab.write("models/model_v2.pkl", "weights v2")
    again = lab.run("evaluate", [("model", "models/model_v2.pkl"), ("test", "data/test_s.csv")],
                    metrics=[("accuracy", 0.85, "test")])
    [f] = lab.audit(again, ["test-reuse"]).findings
    assert f.severity == "error" and f.evidence["earlier"][0]["run_id"] == ids["evaluate"]
    # re-exported under another name with 95% of the rows
    test_rows = rows(300, seed=1)[250:]
    scaled = [{**r, "a": round(r["a"] - 0.1, 6)} for r in test_rows]
    lab.table("elsewhere/holdout_v2.csv", scaled[:48] + rows(2, seed=99, start=9000))
    third = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "elsewhere/holdout_v2.csv")])
    [f] = lab.audit(third, ["test-reuse"]).findings
    assert f.evidence["earlier"][0]["containment"] >= 0.9
    # a genuinely fresh test set is not reuse
    lab.table("elsewhere/fresh.csv", rows(50, seed=77, start=5000))
    fresh = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "elsewhere/fresh.csv")])
    assert lab.audit(fresh, ["test-reuse"]).findings == []


def test_selection_optimism(lab):
    clean_pipeline(lab)
    last = None
    for k, acc in enumerate([0.840, 0.842, 0.845, 0.846]):
        lab.write(f"models/m{k}.pkl", f"model {k}")
        last = lab.run("evaluate", [("model", f"models/m{k}.pkl"), ("test", "data/test_s.csv")],
                       metrics=[("accuracy", acc, "test")])
    [f] = lab.audit(last, ["selection-optimism"]).findings
    assert f.severity == "warning" and f.evidence["k"] == 5 and f.evidence["margin"] < f.evidence["optimism"]


def test_selection_optimism_silent_for_a_single_scoring(lab):
    ids = clean_pipeline(lab)
    assert lab.audit(ids["evaluate"], ["selection-optimism"]).findings == []


def test_no_test_set(lab):
    lab.table("data/train.csv", rows(50, seed=6), name="train")
    claim = lab.run("evaluate", [("train", "data/train.csv")], metrics=[("accuracy", 0.99, "test")])
    [f] = lab.audit(claim, ["no-test-set"]).findings
    assert f.severity == "critical"
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    inside = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/train.csv")],
                     metrics=[("accuracy", 1.0, "test")])
    assert "no-test-set" in lab.slugs(inside)


def test_no_test_set_silent_with_a_real_test_set(lab):
    ids = clean_pipeline(lab)
    assert lab.audit(ids["evaluate"], ["no-test-set"]).findings == []


def test_distribution_shift(lab):
    lab.table("data/train.csv", rows(400, seed=7), name="train")
    lab.table("data/test.csv", rows(200, seed=8, shift=2.0), name="test")
    lab.table("data/val.csv", rows(200, seed=9), name="val")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv"),
                              ("validation", "data/val.csv")])
    findings = lab.audit(ev, ["distribution-shift"]).findings
    [f] = [f for f in findings if f.evidence["heldout"]["role"] == "test"]
    drifted = {c["column"] for c in f.evidence["columns"] if c["drift"]}
    assert {"a", "b"} <= drifted and "colour" not in drifted
    assert not [f for f in findings if f.evidence["heldout"]["role"] == "validation"
                and f.level >= Severity.warning]


def test_dirty_code_and_unversioned_input(lab):
    ids = clean_pipeline(lab)
    lab.commit()
    clean = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")])
    assert lab.audit(clean, ["dirty-code"]).findings == []
    assert lab.audit(clean, ["unversioned-input"]).findings == []
    (lab.root / "train.py").write_text("print('changed')\n")
    from conftest import git

    git(lab.root, "add", "train.py")  # staged, not committed: the tree is dirty
    dirty = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")])
    [f] = [f for f in lab.audit(dirty, ["dirty-code"]).findings if f.evidence["run"] == dirty]
    assert f.severity == "warning" and f.evidence["diff_digest"]
    from lineage import snapshots

    snapshots.create(lab.repo, lab.root / "data" / "unstored.csv"
                     if (lab.root / "data" / "unstored.csv").exists()
                     else lab.table("data/unstored.csv", rows(5, seed=10)), store=False, name="unstored")
    ghost = lab.run("evaluate", [("test", "data/unstored.csv")])
    assert "unversioned-input" in lab.slugs(ghost)
    assert ids


def test_near_duplicate_text(lab):
    texts = [f"the patient reported mild symptoms on day {i} and recovered after rest number {i * 7}"
             for i in range(40)]
    train = [{"text": t, "label": i % 2} for i, t in enumerate(texts[:30])]
    test = [{"text": t, "label": i % 2} for i, t in enumerate(texts[30:])]
    test.append({"text": texts[3].replace("mild", "mild,"), "label": 1})  # a near copy
    lab.table("data/train.csv", train, name="train", text_column="text", label_column="label")
    lab.table("data/test.csv", test, name="test", text_column="text", label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    findings = lab.audit(ev, ["near-duplicate"]).findings
    assert findings and findings[0].evidence["near_duplicates"] >= 1
    assert any(e["row_b"] == 10 for e in findings[0].evidence["examples"])


def test_near_duplicate_silent_on_distinct_text(lab):
    import random

    rng = random.Random(11)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "zeta", "iota"]
    texts = [" ".join(rng.choice(words) + str(rng.randint(0, 10**6)) for _ in range(12)) for _ in range(40)]
    lab.table("data/train.csv", [{"text": t} for t in texts[:30]], name="train", text_column="text")
    lab.table("data/test.csv", [{"text": t} for t in texts[30:]], name="test", text_column="text")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["near-duplicate"]).findings == []


def test_distribution_shift_compares_with_the_training_data_of_the_same_form(lab):
    ids = clean_pipeline(lab)  # the scaler learned from raw rows, the model from scaled ones
    assert lab.audit(ids["evaluate"], ["distribution-shift"]).findings == []


def test_data_moving_runs_are_not_judged(lab):
    full = rows(300, seed=1)
    lab.table("data/full.csv", full, name="full", label_column="label")
    lab.write("models/scaler.json", "{}")
    lab.run("fit", [("train", "data/full.csv")], ["models/scaler.json"])
    lab.table("data/test.csv", full[240:])
    lab.table("data/test_s.csv", [{**r, "a": r["a"] - 1} for r in full[240:]])
    move = lab.run("transform", [("model", "models/scaler.json"), ("test", "data/test.csv")],
                   ["data/test_s.csv"])
    assert lab.slugs(move, at_least="error") == set()


def test_distribution_shift_ignores_declared_group_and_time_columns(lab):
    train = [{"patient_id": f"p{i % 50}", "day": i, "x": (i * 7) % 13, "label": i % 2} for i in range(400)]
    test = [{"patient_id": f"q{i % 50}", "day": 1000 + i, "x": (i * 7) % 13, "label": i % 2} for i in range(200)]
    lab.table("data/train.csv", train, name="train", group_column="patient_id", time_column="day")
    lab.table("data/test.csv", test, name="test", group_column="patient_id", time_column="day")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["distribution-shift"]).findings == []
