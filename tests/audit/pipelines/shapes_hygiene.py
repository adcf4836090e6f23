"""Test claims without an honest test set: a score logged with no test input recorded, and
a model trained on every row before its "test" set was cut from the same data."""

from __future__ import annotations

from sklearn.model_selection import train_test_split

from audit.pipelines.conftest import estimator, load, pipeline, score


def unrecorded_test_set(ws, name: str):
    """The evaluation script reads test.csv but records only the model: a test score no
    auditor can trace to held-out data."""
    df = load(name)
    train, test = train_test_split(df, test_size=0.25, random_state=4)
    ws.write(train, "data/train.csv")
    ws.write(test, "data/test.csv")
    ws.snapshot("data/train.csv", name="train", label_column="target")
    with ws.step("train", train="data/train.csv") as s:
        tr = ws.read("data/train.csv")
        model = estimator(name).fit(tr.drop(columns="target"), tr["target"])
        s.save(model, "models/model.pkl")
    with ws.step("evaluate", model="models/model.pkl") as s:
        te = ws.read("data/test.csv")  # read, never recorded
        s.metric(*score(name, model, te.drop(columns="target"), te["target"]), "test")
    ws.commit()


def test_set_inside_training_data(ws, name: str, fmt: str):
    """The model is trained on every row; the "test" set is then cut from the same rows."""
    df = load(name)
    ws.write(df, f"data/all.{fmt}")
    ws.snapshot(f"data/all.{fmt}", name="all", label_column="target")
    with ws.step("train", train=f"data/all.{fmt}") as s:
        model = estimator(name).fit(df.drop(columns="target"), df["target"])
        s.save(model, "models/model.pkl")
    with ws.step("split", other=f"data/all.{fmt}") as s:
        _rest, test = train_test_split(df, test_size=0.2, random_state=1)
        s.save(test, f"data/test.{fmt}")
    with ws.step("evaluate", model="models/model.pkl", test=f"data/test.{fmt}") as s:
        te = ws.read(f"data/test.{fmt}")
        s.metric(*score(name, model, te.drop(columns="target"), te["target"]), "test")
    ws.commit()


pipeline("leak/hygiene/unrecorded-test-set/wine", {"no-test-set"})(
    lambda ws: unrecorded_test_set(ws, "wine"))
pipeline("leak/hygiene/unrecorded-test-set/diabetes", {"no-test-set"})(
    lambda ws: unrecorded_test_set(ws, "diabetes"))
pipeline("leak/hygiene/test-set-inside-training-data/breast_cancer", {"no-test-set"})(
    lambda ws: test_set_inside_training_data(ws, "breast_cancer", "csv"))
pipeline("leak/hygiene/test-set-inside-training-data/digits-parquet", {"no-test-set"})(
    lambda ws: test_set_inside_training_data(ws, "digits", "parquet"))
