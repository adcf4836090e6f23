"""The everyday shape: train/validation/test with a scaler fitted on train, tuning on
validation, one final scoring; on every bundled dataset, in CSV and Parquet."""

from __future__ import annotations

from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from audit.pipelines.conftest import DATASETS, REGRESSION, estimator, load, pipeline, score


def train_val_test(ws, name: str, fmt: str = "csv", stratify: bool = True) -> dict[str, str]:
    """raw -> split (train/val/test) -> scaler fitted on train -> transform all three ->
    tune C on validation -> train -> evaluate once on test."""
    df = load(name)
    ws.write(df, f"data/raw.{fmt}")
    ws.snapshot(f"data/raw.{fmt}", name="raw", label_column="target")
    with ws.step("split", "split", other=f"data/raw.{fmt}") as s:
        strat = df["target"] if stratify and name not in REGRESSION else None
        rest, test = train_test_split(df, test_size=0.2, random_state=0, stratify=strat)
        strat = rest["target"] if stratify and name not in REGRESSION else None
        train, val = train_test_split(rest, test_size=0.25, random_state=0, stratify=strat)
        for part, frame in (("train", train), ("val", val), ("test", test)):
            s.save(frame, f"data/{part}.{fmt}")
    with ws.step("fit", "scaler", train=f"data/train.{fmt}") as s:
        tr = ws.read(f"data/train.{fmt}")
        scaler = StandardScaler().fit(tr.drop(columns="target"))
        s.save(scaler, "models/scaler.pkl")
    for part, role in (("train", "train"), ("val", "validation"), ("test", "test")):
        with ws.step("transform", model="models/scaler.pkl", **{role: f"data/{part}.{fmt}"}) as s:
            frame = ws.read(f"data/{part}.{fmt}")
            X = scaler.transform(frame.drop(columns="target"))
            out = frame.copy()
            out[out.columns.drop("target")] = X
            s.save(out, f"data/{part}_scaled.{fmt}")
    grid = [0.1, 1.0, 10.0]
    with ws.step("tune", "tune", train=f"data/train_scaled.{fmt}", validation=f"data/val_scaled.{fmt}") as s:
        tr, va = ws.read(f"data/train_scaled.{fmt}"), ws.read(f"data/val_scaled.{fmt}")
        results = {}
        for c in grid:
            m = estimator(name, C=c, alpha=c).fit(tr.drop(columns="target"), tr["target"])
            results[c] = score(name, m, va.drop(columns="target"), va["target"])[1]
        best = max(results, key=results.get)
        s.metric("best_validation", results[best], "validation")
        s.save({"C": best}, "models/params.json")
    with ws.step("train", "train", train=f"data/train_scaled.{fmt}", other="models/params.json") as s:
        tr = ws.read(f"data/train_scaled.{fmt}")
        model = estimator(name, C=best, alpha=best).fit(tr.drop(columns="target"), tr["target"])
        s.save(model, "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=f"data/test_scaled.{fmt}") as s:
        te = ws.read(f"data/test_scaled.{fmt}")
        s.metric(*score(name, model, te.drop(columns="target"), te["target"]), "test")
    ws.commit()
    return ws.runs


for _name in DATASETS:
    pipeline(f"clean/train-val-test/{_name}")(lambda ws, _n=_name: train_val_test(ws, _n))
pipeline("clean/train-val-test/wine-parquet-unstratified")(
    lambda ws: train_val_test(ws, "wine", fmt="parquet", stratify=False))
