"""More everyday shapes: data delivered already split, categorical columns through a
ColumnTransformer, undersampling inside the training split, evaluation split into a
predictions step and a metrics step, a second test set, bootstrap intervals, a shared
lookup table joined on both sides, noise augmentation of the training rows, time columns
that change type between files; and leaks that travel through float32 or a re-typed label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit.pipelines.conftest import REGRESSION, load, pipeline, score
from audit.pipelines.shapes_leaks import evaluate, quick_model, raw, split, train, xy

# -- 1. train and test delivered as two files (no split run) ----------------------------------
# The provider cut the data; the test file comes from another export: columns in another
# order, integral floats written as "3.0", the label spelled as class names in both files.


def delivered_split(ws, name: str, test_fmt: str = "csv"):
    df = load(name)
    if name not in REGRESSION:
        df["target"] = df["target"].map(lambda v: f"class_{int(v)}")
    tr, te = train_test_split(df, test_size=0.25, random_state=11)
    ws.write(tr, "data/delivered/train.csv")
    te = te[list(te.columns[::-1])].astype({c: "float64" for c in te.columns if c != "target"})
    ws.write(te, f"data/delivered/test.{test_fmt}")
    ws.snapshot("data/delivered/train.csv", name="train", label_column="target")
    ws.snapshot(f"data/delivered/test.{test_fmt}", name="test", label_column="target")
    train(ws, name, "data/delivered/train.csv")
    evaluate(ws, name, "models/model.pkl", f"data/delivered/test.{test_fmt}")
    ws.commit()


pipeline("clean/more/delivered-split/wine-string-labels")(lambda ws: delivered_split(ws, "wine"))
pipeline("clean/more/delivered-split/diabetes-test-parquet")(
    lambda ws: delivered_split(ws, "diabetes", "parquet"))


# -- 2. a categorical column one-hot encoded inside the model, Parquet with category dtype ----


def categorical_pipeline(ws, name: str):
    df = load(name)
    first = df.columns[0]
    df.insert(0, "site", pd.qcut(df[first], 5, labels=[f"site_{i}" for i in range(5)]).astype("category"))
    src = raw(ws, name, "parquet", df)
    train_rel, test_rel = split(ws, src, name, "parquet")
    numeric = [c for c in df.columns if c not in ("site", "target")]
    with ws.step("train", "train", train=train_rel) as s:
        frame = ws.read(train_rel)
        prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["site"]),
                                  ("num", StandardScaler(), numeric)])
        model = make_pipeline(prep, LogisticRegression(max_iter=3000)).fit(frame.drop(columns="target"),
                                                                         frame["target"])
        s.save(model, "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=test_rel) as s:
        frame = ws.read(test_rel)
        s.metric("accuracy", round(float(model.score(frame.drop(columns="target"), frame["target"])), 6), "test")
    ws.commit()


pipeline("clean/more/categorical-column-transformer/breast_cancer")(
    lambda ws: categorical_pipeline(ws, "breast_cancer"))


# -- 3. undersampling the majority class inside the training split ----------------------------


def undersample_in_train(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("transform", "undersample", train=train_rel) as s:
        tr = ws.read(train_rel)
        smallest = tr["target"].value_counts().min()
        balanced = tr.groupby("target").sample(n=smallest, random_state=0).sample(frac=1, random_state=1)
        s.save(balanced, "data/train_balanced.parquet")
    train(ws, name, "data/train_balanced.parquet")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("clean/more/undersample-in-train/breast_cancer")(lambda ws: undersample_in_train(ws, "breast_cancer"))


# -- 4. evaluation in two steps: predictions written, metrics computed from them --------------
# The predictions file is the test rows plus a prediction column; the metrics step reads it
# (as the test input: it is where the test labels now live) and logs the test metrics. One
# final scoring of the test set, written by two scripts.


def predictions_then_metrics(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    train(ws, name, train_rel)
    with ws.step("transform", "predict", model="models/model.pkl", test=test_rel) as s:
        model = ws.read("models/model.pkl")
        te = ws.read(test_rel)
        X, _ = xy(te)
        s.save(te.assign(prediction=model.predict(X[list(model.feature_names_in_)])), "data/predictions.csv")
    with ws.step("evaluate", "metrics", test="data/predictions.csv") as s:
        pred = ws.read("data/predictions.csv")
        s.metric("accuracy", round(float((pred["prediction"] == pred["target"]).mean()), 6), "test")
        s.metric("error_rate", round(float((pred["prediction"] != pred["target"]).mean()), 6), "test")
    ws.commit()


pipeline("clean/more/predictions-then-metrics/wine")(lambda ws: predictions_then_metrics(ws, "wine"))


# -- 5. a second, later test set (a new collection), each test set scored once ---------------


def second_test_set(ws, name: str):
    df = load(name)
    later = df.sample(frac=0.2, random_state=3)
    rest = df.drop(later.index)
    ws.write(rest, "data/raw.csv")
    ws.snapshot("data/raw.csv", name="raw", label_column="target")
    train_rel, test_rel = split(ws, "data/raw.csv", name)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.write(later, "data/collection_2025/test.parquet")
    ws.snapshot("data/collection_2025/test.parquet", name="test-2025", label_column="target")
    evaluate(ws, name, "models/model.pkl", "data/collection_2025/test.parquet", step="evaluate-2025")
    ws.commit()


pipeline("clean/more/second-test-set/breast_cancer")(lambda ws: second_test_set(ws, "breast_cancer"))


# -- 6. bootstrap confidence interval of the test score, in the evaluation run ----------------


def bootstrap_interval(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    train(ws, name, train_rel)
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=test_rel) as s:
        model = ws.read("models/model.pkl")
        X, y = xy(ws.read(test_rel))
        X = X[list(model.feature_names_in_)]
        metric, value = score(name, model, X, y)
        rng = np.random.default_rng(0)
        boots = []
        for _ in range(200):
            idx = rng.integers(0, len(X), len(X))
            boots.append(score(name, model, X.iloc[idx], y.iloc[idx])[1])
        s.metric(metric, value, "test")
        s.metric(f"{metric}_ci_low", round(float(np.percentile(boots, 2.5)), 6), "test")
        s.metric(f"{metric}_ci_high", round(float(np.percentile(boots, 97.5)), 6), "test")
    ws.commit()


pipeline("clean/more/bootstrap-interval/diabetes")(lambda ws: bootstrap_interval(ws, "diabetes"))


# -- 7. a lookup table joined onto both sides (external reference data, not rows) ------------


def shared_lookup(ws, name: str):
    df = load(name)
    df.insert(0, "region", np.arange(len(df)) % 7)
    src = raw(ws, name, "csv", df)
    lookup = pd.DataFrame({"region": np.arange(7), "population": [120, 340, 90, 560, 230, 410, 75],
                           "urban": [0, 1, 0, 1, 1, 1, 0]})
    ws.write(lookup, "data/reference/regions.csv")
    ws.snapshot("data/reference/regions.csv", name="regions")
    train_rel, test_rel = split(ws, src, name)
    joined = {}
    for rel, role in ((train_rel, "train"), (test_rel, "test")):
        out = rel.replace(".csv", "_joined.parquet")
        with ws.step("transform", other="data/reference/regions.csv", **{role: rel}) as s:
            frame = ws.read(rel).merge(ws.read("data/reference/regions.csv"), on="region", how="left")
            s.save(frame, out)
        joined[role] = out
    train(ws, name, joined["train"])
    evaluate(ws, name, "models/model.pkl", joined["test"])
    ws.commit()


pipeline("clean/more/shared-lookup-joined/wine")(lambda ws: shared_lookup(ws, "wine"))


# -- 8. noise augmentation of the training rows (copies of training rows, jittered) ----------


def noise_augmented_train(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("transform", "augment", train=train_rel) as s:
        tr = ws.read(train_rel)
        X, y = xy(tr)
        rng = np.random.default_rng(1)
        noisy = X + rng.normal(0, 0.01, X.shape) * X.std().to_numpy()
        more = pd.concat([tr, noisy.assign(target=y.to_numpy())], ignore_index=True)
        s.save(more, "data/train_augmented.csv")
    train(ws, name, "data/train_augmented.csv")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("clean/more/noise-augmented-train/breast_cancer")(lambda ws: noise_augmented_train(ws, "breast_cancer"))


# -- 9. a declared time column that changes type between files -------------------------------
# Parquet timestamps in the training file, ISO strings in the test CSV: the same instants.


def time_column_retyped(ws, name: str, at_random: bool = False):
    df = load(name)
    df.insert(0, "when", pd.date_range("2022-03-01 08:00", periods=len(df), freq="6h"))
    ws.write(df, "data/raw.parquet")
    ws.snapshot("data/raw.parquet", name="raw", label_column="target", time_column="when")
    with ws.step("split", "split", other="data/raw.parquet") as s:
        frame = ws.read("data/raw.parquet")
        if at_random:
            tr, te = train_test_split(frame, test_size=0.2, random_state=0)
        else:
            cut = int(len(frame) * 0.8)
            tr, te = frame.iloc[:cut], frame.iloc[cut:]
        s.save(tr, "data/train.parquet")
        te = te.assign(when=te["when"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
        s.save(te, "data/test.csv")
    ws.snapshot("data/train.parquet", label_column="target", time_column="when")
    ws.snapshot("data/test.csv", label_column="target", time_column="when")
    train(ws, name, "data/train.parquet")
    evaluate(ws, name, "models/model.pkl", "data/test.csv")
    ws.commit()


pipeline("clean/more/time-column-retyped/diabetes")(lambda ws: time_column_retyped(ws, "diabetes"))
pipeline("leak/more/time-column-retyped-split-at-random/breast_cancer", {"temporal-order"})(
    lambda ws: time_column_retyped(ws, "breast_cancer", at_random=True))


# -- 10. test rows through float32 into the training file ------------------------------------
# A feature store hands the test rows back as float32; a careless concat puts them in the
# training data. Not the same bits (float32 rounding), the same rows: near-duplicate.


def float32_test_rows_into_train(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("other", "feature-store", other=[train_rel, test_rel]) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        feats = [c for c in te.columns if c != "target"]
        stored = te.sample(frac=0.5, random_state=4).astype({c: "float32" for c in feats})
        more = pd.concat([tr, stored.astype({c: "float64" for c in feats})]).sample(frac=1, random_state=5)
        s.save(more, "data/train_from_store.parquet")
    train(ws, name, "data/train_from_store.parquet")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/more/float32-test-rows-into-train/breast_cancer", {"near-duplicate"})(
    lambda ws: float32_test_rows_into_train(ws, "breast_cancer"))


# -- 11. test rows copied into train, the label re-typed on the way (int -> float) -----------


def retyped_label_copies(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("other", "merge", other=[train_rel, test_rel]) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        copied = te.sample(frac=0.3, random_state=6)
        more = pd.concat([tr, copied]).astype({"target": "float64"}).sample(frac=1, random_state=7)
        s.save(more, "data/train_merged.csv")
    with ws.step("train", "train", train="data/train_merged.csv") as s:
        X, y = xy(ws.read("data/train_merged.csv"))
        s.save(quick_model(name).fit(X, y.astype(int)), "models/model.pkl")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/more/test-copies-label-as-float/wine", {"exact-overlap"})(
    lambda ws: retyped_label_copies(ws, "wine"))


# -- 12. a database re-export renames every column (lower case, prefixed) --------------------
# The training file that holds copied test rows comes from another export: same values, new
# column names and order. The rows are the test rows: exact-overlap. Row fingerprints cover
# column names (a row is its named values), so rows under other names are not matched yet.


def renamed_columns_copies(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("other", "warehouse-export", other=[train_rel, test_rel]) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        more = pd.concat([tr, te.sample(frac=0.3, random_state=8)]).sample(frac=1, random_state=9)
        more = more.rename(columns={c: c if c == "target" else f"f_{c.lower()}" for c in more.columns})
        s.save(more[list(more.columns[::-1])], "data/warehouse/train.parquet")
    with ws.step("train", "train", train="data/warehouse/train.parquet") as s:
        frame = ws.read("data/warehouse/train.parquet")
        X, y = xy(frame)
        s.save(quick_model(name).fit(X.to_numpy(), y), "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=test_rel) as s:
        model = ws.read("models/model.pkl")
        te = ws.read(test_rel)
        cols = [c for c in te.columns if c != "target"][::-1]
        s.metric(*score(name, model, te[cols].to_numpy(), te["target"]), "test")
    ws.commit()


pipeline("leak/more/test-copies-in-renamed-columns/breast_cancer", {"exact-overlap"},
         gap="row keys include column names: copies under renamed columns are not matched")(
    lambda ws: renamed_columns_copies(ws, "breast_cancer"))


# -- 13. patient IDs as integers in Parquet, zero-padded strings in CSV ----------------------


def patients_retyped(ws, name: str, by_group: bool):
    from sklearn.model_selection import GroupShuffleSplit

    df = load(name)
    df.insert(0, "patient", np.random.default_rng(3).permutation(len(df)) // 4)
    ws.write(df, "data/raw.parquet")
    ws.snapshot("data/raw.parquet", name="raw", label_column="target", group_column="patient")
    with ws.step("split", "split", other="data/raw.parquet") as s:
        frame = ws.read("data/raw.parquet")
        if by_group:
            a, b = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0)
                        .split(frame, groups=frame["patient"]))
            tr, te = frame.iloc[a], frame.iloc[b]
        else:
            tr, te = train_test_split(frame, test_size=0.25, random_state=0)
        s.save(tr, "data/train.parquet")
        s.save(te.assign(patient=te["patient"].map(lambda v: f"{v:05d}")), "data/test.csv")
    ws.snapshot("data/train.parquet", label_column="target", group_column="patient")
    ws.snapshot("data/test.csv", label_column="target", group_column="patient")
    train(ws, name, "data/train.parquet")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test="data/test.csv") as s:
        model = ws.read("models/model.pkl")
        te = ws.read("data/test.csv")
        X, y = xy(te)
        s.metric(*score(name, model, X[list(model.feature_names_in_)], y), "test")
    ws.commit()


pipeline("clean/more/patients-retyped-group-split/wine")(lambda ws: patients_retyped(ws, "wine", True))


# -- 14. cross-validation only: validation metrics, no test scoring --------------------------


def cross_validation_only(ws, name: str):
    from sklearn.model_selection import cross_val_score

    src = raw(ws, name, "parquet")
    with ws.step("tune", "cv", train=src) as s:
        X, y = xy(ws.read(src))
        scores = cross_val_score(quick_model(name), X, y, cv=5)
        s.metric("cv_mean", round(float(scores.mean()), 6), "validation")
        s.metric("cv_std", round(float(scores.std()), 6), "validation")
    ws.commit()


pipeline("clean/more/cross-validation-only/digits")(lambda ws: cross_validation_only(ws, "digits"))


# -- 15. the test set re-scored after a 95 % subsample, re-serialised: test-reuse -------------


def subsampled_test_rescored(ws, name: str):
    from sklearn.tree import DecisionTreeClassifier

    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    train(ws, name, train_rel, "models/tree.pkl", step="train-tree", make=lambda: DecisionTreeClassifier(random_state=0))
    with ws.step("other", "subsample", other=test_rel) as s:
        s.save(ws.read(test_rel).sample(frac=0.95, random_state=1), "data/eval/quick_test.parquet")
    evaluate(ws, name, "models/tree.pkl", "data/eval/quick_test.parquet", step="evaluate-tree")
    ws.commit()


pipeline("leak/more/test-subsample-rescored/breast_cancer", {"test-reuse"})(
    lambda ws: subsampled_test_rescored(ws, "breast_cancer"))


# -- 16. a drift check between train and test before the evaluation (reads, logs no metric) --


def drift_check_then_evaluate(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("other", "drift-check", train=train_rel, test=test_rel) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        gaps = {c: float(abs(tr[c].mean() - te[c].mean()) / (tr[c].std() or 1.0)) for c in tr.columns}
        s.save({"standardised_mean_gap": gaps}, "reports/drift.json")
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("clean/more/drift-check-before-evaluation/wine")(lambda ws: drift_check_then_evaluate(ws, "wine"))


# -- 17. coarse categorical data: identical rows occur naturally on both sides of a split ---


def coarse_categorical(ws, name: str, fmt: str = "csv"):
    df = load(name)
    feats = [c for c in df.columns if c != "target"][:4]
    coarse = pd.DataFrame({c: pd.qcut(df[c], 3, labels=["low", "mid", "high"]).astype(str) for c in feats})
    coarse["target"] = df["target"]
    src = raw(ws, name, fmt, coarse)
    train_rel, test_rel = split(ws, src, name, fmt)
    with ws.step("train", "train", train=train_rel) as s:
        tr = ws.read(train_rel)
        enc = OneHotEncoder(handle_unknown="ignore").fit(tr[feats])
        model = LogisticRegression(max_iter=2000).fit(enc.transform(tr[feats]), tr["target"])
        s.save((enc, model), "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=test_rel) as s:
        enc, model = ws.read("models/model.pkl")
        te = ws.read(test_rel)
        s.metric("accuracy", round(float(model.score(enc.transform(te[feats]), te["target"])), 6), "test")
    ws.commit()


pipeline("clean/more/coarse-categorical-natural-duplicates/breast_cancer")(
    lambda ws: coarse_categorical(ws, "breast_cancer"))
pipeline("clean/more/coarse-categorical-natural-duplicates/wine-parquet")(
    lambda ws: coarse_categorical(ws, "wine", "parquet"))
