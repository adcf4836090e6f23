"""Happens-before: an input is linked to the run that wrote its content most recently
before the read began, and a test set used up by its final scoring may become
validation data (docs/audit.md, "Order: happens-before")."""

from __future__ import annotations

from audit.conftest import rows


def _bad(lab, run_id):
    return {(f.rule, f.message) for f in lab.audit(run_id).findings if f.severity in ("error", "critical")}


def nested_cv(lab, *, leak: bool = False) -> dict[str, list[str]]:
    """Three outer folds; each tunes on its training part and writes the same params.json bytes."""
    full = rows(300, seed=3)
    lab.table("data/full.csv", full, name="full", label_column="label")
    ids: dict[str, list[str]] = {"split": [], "tune": [], "train": [], "evaluate": []}
    if leak:  # a scaler fitted on every row before the folds are cut
        lab.write("models/scaler.json", '{"mean": 0.3}')
        ids["leak"] = [lab.run("fit", [("train", "data/full.csv")], ["models/scaler.json"])]
    for k, (lo, hi) in enumerate([(0, 100), (100, 200), (200, 300)]):
        test, train = full[lo:hi], full[:lo] + full[hi:]
        lab.table(f"data/outer_{k}/train.csv", train)
        lab.table(f"data/outer_{k}/test.csv", test)
        ids["split"].append(lab.run("split", [("other", "data/full.csv")],
                                    [f"data/outer_{k}/train.csv", f"data/outer_{k}/test.csv"]))
        lab.write(f"models/outer_{k}/params.json", '{"C": 1.0, "max_depth": 4}')
        tune_in = [("train", f"data/outer_{k}/train.csv")] + ([("model", "models/scaler.json")] if leak else [])
        ids["tune"].append(lab.run("tune", tune_in, [f"models/outer_{k}/params.json"],
                                   [("accuracy", 0.8, "validation")]))
        lab.write(f"models/outer_{k}/model.pkl", f"weights fold {k}")
        ids["train"].append(lab.run("train", [("train", f"data/outer_{k}/train.csv"),
                                              ("other", f"models/outer_{k}/params.json")]
                                    + ([("model", "models/scaler.json")] if leak else []),
                                    [f"models/outer_{k}/model.pkl"]))
        ids["evaluate"].append(lab.run("evaluate", [("model", f"models/outer_{k}/model.pkl"),
                                                    ("test", f"data/outer_{k}/test.csv")],
                                       metrics=[("accuracy", 0.8, "test")]))
    return ids


def test_nested_cv_same_params_bytes_link_each_read_to_its_latest_writer(lab):
    ids = nested_cv(lab)
    lab.commit()
    from lineage import audit

    for runs in ids.values():
        for run_id in runs:
            assert _bad(lab, run_id) == set(), run_id
    report = audit.run(lab.repo, audit.select_runs(lab.repo, all_runs=True))
    assert report.exit_code("error") == 0


def test_nested_cv_with_a_fit_on_every_row_before_the_folds_still_fires(lab):
    ids = nested_cv(lab, leak=True)
    lab.commit()
    for ev in ids["evaluate"]:
        found = lab.audit(ev, ["fit-on-heldout"]).findings
        assert found and all(f.severity == "critical" for f in found)
        assert {f.evidence["learning_run"] for f in found} == set(ids["leak"])


def _second_model(lab, *, validation: str) -> tuple[str, str]:
    """A new model: fresh training rows, ``validation`` as validation data, a fresh test set."""
    fresh = rows(200, seed=11, start=1000)
    lab.table("data/v2/train.csv", fresh[:150], name="train-v2", label_column="label")
    lab.table("data/v2/test.csv", fresh[150:], name="test-v2", label_column="label")
    lab.write("models/model_v2.pkl", "weights v2")
    train = lab.run("train", [("train", "data/v2/train.csv"), ("validation", validation)],
                    ["models/model_v2.pkl"], [("accuracy", 0.87, "validation")])
    ev = lab.run("evaluate", [("model", "models/model_v2.pkl"), ("test", "data/v2/test.csv")],
                 metrics=[("accuracy", 0.85, "test")])
    return train, ev


def test_a_test_set_used_by_its_final_scoring_becomes_validation_data(lab):
    from audit.conftest import clean_pipeline

    clean_pipeline(lab)  # ends with the final scoring of data/test_s.csv
    train, ev = _second_model(lab, validation="data/test_s.csv")
    lab.commit()
    assert _bad(lab, train) == set()
    assert _bad(lab, ev) == set()
    # trained on, it is no leak until the model trained on it is scored on it
    lab.write("models/model_v3.pkl", "weights v3")
    bad = lab.run("train", [("train", "data/test_s.csv")], ["models/model_v3.pkl"])
    assert lab.slugs(bad, ["train-read-heldout"]) == set()
    lab.run("evaluate", [("model", "models/model_v3.pkl"), ("test", "data/test_s.csv")],
            metrics=[("accuracy", 0.99, "test")])
    assert "train-read-heldout" in lab.slugs(bad, ["train-read-heldout"], at_least="critical")


def test_test_content_read_as_validation_before_its_final_scoring_still_fires(lab):
    from audit.conftest import clean_pipeline

    ids = clean_pipeline(lab)
    # the same pipeline, but the new model reads the test set before it is scored again
    train, _ = _second_model(lab, validation="data/test_s.csv")
    lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
            metrics=[("accuracy", 0.84, "test")])
    lab.commit()
    [f] = lab.audit(train, ["train-read-heldout"]).findings
    assert f.severity == "critical"
    assert ids["evaluate"] not in {u["run_id"] for u in f.evidence["heldout_uses"]}


def test_validation_read_of_a_test_set_scored_only_later_fires(lab):
    full = rows(300, seed=5)
    lab.table("data/train.csv", full[:200], name="train", label_column="label")
    lab.table("data/test.csv", full[200:], name="test", label_column="label")
    lab.write("models/model.pkl", "weights")
    train = lab.run("train", [("train", "data/train.csv"), ("validation", "data/test.csv")],
                    ["models/model.pkl"])
    ev = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test.csv")],
                 metrics=[("accuracy", 0.8, "test")])
    lab.commit()
    [f] = lab.audit(train, ["train-read-heldout"]).findings
    assert f.severity == "critical" and f.evidence["heldout_uses"][0]["run_id"] == ev


def _fresh_tune(lab, *, validation: str, tag: str = "v2") -> str:
    """A tuning run on fresh training rows with ``validation`` as its validation data."""
    fresh = rows(200, seed=13, start=2000)
    lab.table(f"data/{tag}/train.csv", fresh[:150], name=f"train-{tag}", label_column="label")
    lab.write(f"models/{tag}/params.json", '{"C": 0.5}')
    return lab.run("tune", [("train", f"data/{tag}/train.csv"), ("validation", validation)],
                   [f"models/{tag}/params.json"], [("accuracy", 0.86, "validation")])


def test_a_tune_run_may_read_a_used_up_test_set_as_validation(lab):
    from audit.conftest import clean_pipeline

    clean_pipeline(lab)  # ends with the final scoring of data/test_s.csv
    tune = _fresh_tune(lab, validation="data/test_s.csv")
    lab.commit()
    assert _bad(lab, tune) == set()
    # as training data of a model then scored on it, it is a critical leak
    lab.write("models/params_v3.json", '{"C": 2.0}')
    bad = lab.run("tune", [("train", "data/test_s.csv")], ["models/params_v3.json"])
    assert lab.slugs(bad, ["tune-read-test"]) == set()
    lab.write("models/model_v3.pkl", "weights v3")
    lab.run("train", [("train", "data/train_s.csv"), ("other", "models/params_v3.json")], ["models/model_v3.pkl"])
    lab.run("evaluate", [("model", "models/model_v3.pkl"), ("test", "data/test_s.csv")],
            metrics=[("accuracy", 0.99, "test")])
    assert "tune-read-test" in lab.slugs(bad, ["tune-read-test"], at_least="critical")


def test_a_tune_run_reading_the_test_set_before_its_scoring_fires(lab):
    full = rows(300, seed=7)
    lab.table("data/train.csv", full[:200], name="train", label_column="label")
    lab.table("data/test.csv", full[200:], name="test", label_column="label")
    tune = _fresh_tune(lab, validation="data/test.csv")
    lab.write("models/model.pkl", "weights")
    lab.run("train", [("train", "data/train.csv"), ("other", "models/v2/params.json")], ["models/model.pkl"])
    ev = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test.csv")],
                 metrics=[("accuracy", 0.8, "test")])
    lab.commit()
    [f] = lab.audit(tune, ["tune-read-test"]).findings
    assert f.severity == "critical" and f.evidence["test_uses"][0]["run_id"] == ev


def test_a_tune_run_reading_its_own_models_test_set_fires_even_after_an_old_scoring(lab):
    from audit.conftest import clean_pipeline

    ids = clean_pipeline(lab)
    tune = _fresh_tune(lab, validation="data/test_s.csv")  # used up: clean so far
    lab.write("models/v2/model.pkl", "weights v2")
    lab.run("train", [("train", "data/v2/train.csv"), ("other", "models/v2/params.json")],
            ["models/v2/model.pkl"])
    ev = lab.run("evaluate", [("model", "models/v2/model.pkl"), ("test", "data/test_s.csv")],
                 metrics=[("accuracy", 0.9, "test")])
    lab.commit()
    [f] = lab.audit(tune, ["tune-read-test"]).findings
    assert f.severity == "critical"
    assert {u["run_id"] for u in f.evidence["test_uses"]} == {ev}  # not the old scoring
    assert ids["evaluate"] not in {u["run_id"] for u in f.evidence["test_uses"]}
    assert "tune-read-test" in lab.slugs(ev, ["tune-read-test"])


def test_a_tune_run_on_the_scored_models_training_data_may_not_reuse_its_test_set(lab):
    from audit.conftest import clean_pipeline

    clean_pipeline(lab)
    lab.write("models/best.json", '{"C": 1}')
    tune = lab.run("tune", [("train", "data/train_s.csv"), ("validation", "data/test_s.csv")],
                   ["models/best.json"])
    lab.commit()
    [f] = lab.audit(tune, ["tune-read-test"]).findings
    assert f.severity == "critical"
