"""Clean shapes beyond train/validation/test: k-fold then test, nested cross-validation,
walk-forward, group split, refit on train+validation, a used-up test set serving as
validation, oversampling inside the training split, plain train/test with a re-exported
test set, and a preprocessing pipeline fitted on train only. Every one fires nothing at
error or above; each comes in several variants (dataset, CSV or Parquet, a file renamed
between steps, rows shuffled or columns re-ordered, split sizes and seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, GroupShuffleSplit, KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import resample

from audit.pipelines.conftest import REGRESSION, estimator, load, pipeline, score


def xy(frame: pd.DataFrame, drop: tuple[str, ...] = ()):
    return frame.drop(columns=["target", *drop]), frame["target"]


def model_for(name: str, c: float = 1.0):
    """Scaler + the dataset's quick model, as one estimator (the scaler learns from the
    rows the model is fitted on, and nothing else)."""
    return make_pipeline(StandardScaler(), estimator(name, C=c, alpha=c))


def strat(name: str, frame: pd.DataFrame):
    return None if name in REGRESSION else frame["target"]


def raw(ws, name: str, fmt: str, **declared) -> tuple[pd.DataFrame, str]:
    df = load(name)
    rel = f"data/raw.{fmt}"
    ws.write(df, rel)
    ws.snapshot(rel, name="raw", label_column="target", **declared)
    return df, rel


GRID = (0.1, 1.0, 10.0)


# -- k-fold cross-validation inside the training part, then one test scoring ---------------
def kfold_then_test(ws, name: str, k: int, fmt: str = "csv", seed: int = 0, test_size: float = 0.2,
                    rename_test: bool = False, fold_scoring: str = "evaluate",
                    grid: tuple[float, ...] = GRID) -> dict[str, str]:
    """``fold_scoring``: one ``evaluate`` run per fold and C, or one ``tune`` run per fold
    reading the fold's models and its validation rows."""
    df, src = raw(ws, name, fmt)
    with ws.step("split", "split", other=src) as s:
        train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=strat(name, df))
        s.save(train, f"data/train.{fmt}")
        s.save(test, f"data/test.{fmt}")
    with ws.step("split", "cv-split", train=f"data/train.{fmt}") as s:
        tr = ws.read(f"data/train.{fmt}")
        folds = (KFold(k, shuffle=True, random_state=seed) if name in REGRESSION
                 else StratifiedKFold(k, shuffle=True, random_state=seed))
        for i, (a, b) in enumerate(folds.split(tr, tr["target"])):
            s.save(tr.iloc[a], f"data/cv/fold_{i}/train.{fmt}")
            s.save(tr.iloc[b], f"data/cv/fold_{i}/val.{fmt}")
    scores: dict[float, list[float]] = {c: [] for c in grid}
    for i in range(k):
        val_rel = f"data/cv/fold_{i}/val.{fmt}"
        for c in grid:
            with ws.step("train", train=f"data/cv/fold_{i}/train.{fmt}") as s:
                ftr = ws.read(f"data/cv/fold_{i}/train.{fmt}")
                m = model_for(name, c).fit(*xy(ftr))
                s.save(m, f"models/cv/fold_{i}/C_{c}.pkl")
            if fold_scoring == "evaluate":
                with ws.step("evaluate", model=f"models/cv/fold_{i}/C_{c}.pkl", validation=val_rel) as s:
                    metric, value = score(name, m, *xy(ws.read(val_rel)))
                    s.metric(metric, value, "validation")
                    scores[c].append(value)
        if fold_scoring == "tune":
            with ws.step("tune", model=[f"models/cv/fold_{i}/C_{c}.pkl" for c in grid], validation=val_rel) as s:
                fva = ws.read(val_rel)
                for c in grid:
                    scores[c].append(score(name, ws.read(f"models/cv/fold_{i}/C_{c}.pkl"), *xy(fva))[1])
                s.metric("fold_best", max(scores[c][-1] for c in grid), "validation")
    best = max(grid, key=lambda c: float(np.mean(scores[c])))
    with ws.step("tune", "select", other=[f"models/cv/fold_{i}/C_{c}.pkl" for i in range(k) for c in grid]) as s:
        s.metric("cv_mean", round(float(np.mean(scores[best])), 6), "validation")
        s.save({"C": best}, "models/params.json")
    with ws.step("train", "final", train=f"data/train.{fmt}", other="models/params.json") as s:
        model = model_for(name, best).fit(*xy(ws.read(f"data/train.{fmt}")))
        s.save(model, "models/model.pkl")
    test_rel = f"data/test.{fmt}"
    if rename_test:
        ws.mv(test_rel, f"data/holdout/final_test.{fmt}")
        test_rel = f"data/holdout/final_test.{fmt}"
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=test_rel) as s:
        s.metric(*score(name, model, *xy(ws.read(test_rel))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/kfold-then-test/breast_cancer-k2")(lambda ws: kfold_then_test(ws, "breast_cancer", 2))
pipeline("clean/kfold-then-test/wine-k5-parquet-renamed")(
    lambda ws: kfold_then_test(ws, "wine", 5, fmt="parquet", seed=3, test_size=0.25, rename_test=True,
                               grid=(0.1, 1.0)))
pipeline("clean/kfold-then-test/diabetes-k5-tune-per-fold")(
    lambda ws: kfold_then_test(ws, "diabetes", 5, seed=1, fold_scoring="tune", grid=(0.1, 1.0)))
pipeline("clean/kfold-then-test/breast_cancer-k2-tune-per-fold-renamed")(
    lambda ws: kfold_then_test(ws, "breast_cancer", 2, seed=4, test_size=0.3, rename_test=True, fold_scoring="tune"))
pipeline("clean/kfold-then-test/wine-k2-parquet")(lambda ws: kfold_then_test(ws, "wine", 2, fmt="parquet", seed=7))


# -- nested cross-validation --------------------------------------------------------------
def nested_cv(ws, name: str, outer: int = 3, fmt: str = "csv", seed: int = 0) -> dict[str, str]:
    df, src = raw(ws, name, fmt)
    with ws.step("split", "outer-split", other=src) as s:
        folds = (KFold(outer, shuffle=True, random_state=seed) if name in REGRESSION
                 else StratifiedKFold(outer, shuffle=True, random_state=seed))
        for i, (a, b) in enumerate(folds.split(df, df["target"])):
            s.save(df.iloc[a], f"data/outer_{i}/train.{fmt}")
            s.save(df.iloc[b], f"data/outer_{i}/test.{fmt}")
    for i in range(outer):
        key = "ridge__alpha" if name in REGRESSION else "logisticregression__C"
        with ws.step("tune", f"tune-{i}", train=f"data/outer_{i}/train.{fmt}") as s:
            tr = ws.read(f"data/outer_{i}/train.{fmt}")
            search = GridSearchCV(model_for(name), {key: list(GRID)}, cv=3).fit(*xy(tr))
            best = float(search.best_params_[key])
            s.metric("inner_cv", round(float(search.best_score_), 6), "validation")
            s.save({"C": best}, f"models/outer_{i}/params.json")
        with ws.step("train", f"train-{i}", train=f"data/outer_{i}/train.{fmt}",
                     other=f"models/outer_{i}/params.json") as s:
            params = ws.read(f"models/outer_{i}/params.json")
            model = model_for(name, params["C"]).fit(*xy(ws.read(f"data/outer_{i}/train.{fmt}")))
            s.save(model, f"models/outer_{i}/model.pkl")
        with ws.step("evaluate", f"evaluate-{i}", model=f"models/outer_{i}/model.pkl",
                     test=f"data/outer_{i}/test.{fmt}") as s:
            s.metric(*score(name, model, *xy(ws.read(f"data/outer_{i}/test.{fmt}"))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/nested-cv/breast_cancer")(lambda ws: nested_cv(ws, "breast_cancer"))
pipeline("clean/nested-cv/wine-parquet")(lambda ws: nested_cv(ws, "wine", fmt="parquet", seed=2))
pipeline("clean/nested-cv/diabetes-4-folds")(lambda ws: nested_cv(ws, "diabetes", outer=4, seed=5))


# -- walk-forward (time series) -------------------------------------------------------------
def walk_forward(ws, name: str, fmt: str = "csv", start: float = 0.5, windows: int = 3,
                 append: bool = False) -> dict[str, str]:
    """Each window is scored once, then joins the training data of the next: cut again
    from the raw file, or (``append``) the scored window files read back as training data."""
    df = load(name)
    # the rows arrive in time order, one a day
    df.insert(0, "date", pd.date_range("2020-01-01", periods=len(df), freq="D"))
    if fmt == "csv":
        df["date"] = df["date"].dt.strftime("%Y-%m-%d")
    src = f"data/raw.{fmt}"
    ws.write(df, src)
    ws.snapshot(src, name="raw", label_column="target", time_column="date")
    n = len(df)
    first = int(n * start)
    step = (n - first) // windows
    history: list[str] = []
    for w in range(windows):
        end = first + w * step
        tr_rel, te_rel = f"data/wf/window_{w}/train.{fmt}", f"data/wf/window_{w}/test.{fmt}"
        with ws.step("split", f"split-{w}", other=src) as s:
            if not (append and history):
                s.save(df.iloc[:end], tr_rel)
            s.save(df.iloc[end:end + step], te_rel)
        if not (append and history):
            history.append(tr_rel)
            ws.snapshot(tr_rel, label_column="target", time_column="date")
        ws.snapshot(te_rel, label_column="target", time_column="date")
        with ws.step("train", f"train-{w}", train=list(history)) as s:
            past = pd.concat([ws.read(rel) for rel in history], ignore_index=True)
            model = model_for(name).fit(*xy(past, ("date",)))
            s.save(model, f"models/wf/window_{w}.pkl")
        with ws.step("evaluate", f"evaluate-{w}", model=f"models/wf/window_{w}.pkl", test=te_rel) as s:
            s.metric(*score(name, model, *xy(ws.read(te_rel), ("date",))), "test")
        if append:
            history.append(te_rel)
    ws.commit()
    return ws.runs


pipeline("clean/walk-forward/diabetes")(lambda ws: walk_forward(ws, "diabetes"))
pipeline("clean/walk-forward/breast_cancer-parquet")(
    lambda ws: walk_forward(ws, "breast_cancer", fmt="parquet", start=0.4, windows=4))
pipeline("clean/walk-forward/wine-append-scored-windows")(lambda ws: walk_forward(ws, "wine", start=0.4, append=True))


# -- group split ---------------------------------------------------------------------------
def group_split(ws, name: str, per_group: int = 3, fmt: str = "csv", seed: int = 0,
                shuffle_test: bool = False) -> dict[str, str]:
    df = load(name)
    df.insert(0, "patient_id", np.arange(len(df)) // per_group)
    src = f"data/raw.{fmt}"
    ws.write(df, src)
    ws.snapshot(src, name="raw", label_column="target", group_column="patient_id")
    with ws.step("split", "split", other=src) as s:
        a, b = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=seed)
                    .split(df, groups=df["patient_id"]))
        test = df.iloc[b]
        if shuffle_test:
            test = test.sample(frac=1.0, random_state=seed)
        s.save(df.iloc[a], f"data/train.{fmt}")
        s.save(test, f"data/test.{fmt}")
    for rel in (f"data/train.{fmt}", f"data/test.{fmt}"):
        ws.snapshot(rel, label_column="target", group_column="patient_id")
    with ws.step("train", "train", train=f"data/train.{fmt}") as s:
        model = model_for(name).fit(*xy(ws.read(f"data/train.{fmt}"), ("patient_id",)))
        s.save(model, "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=f"data/test.{fmt}") as s:
        s.metric(*score(name, model, *xy(ws.read(f"data/test.{fmt}"), ("patient_id",))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/group-split/breast_cancer")(lambda ws: group_split(ws, "breast_cancer"))
pipeline("clean/group-split/digits-parquet-shuffled")(
    lambda ws: group_split(ws, "digits", per_group=5, fmt="parquet", seed=4, shuffle_test=True))


# -- refit on train + validation -----------------------------------------------------------
def refit_train_val(ws, name: str, fmt: str = "csv", seed: int = 0, rename_val: bool = False) -> dict[str, str]:
    df, src = raw(ws, name, fmt)
    with ws.step("split", "split", other=src) as s:
        rest, test = train_test_split(df, test_size=0.2, random_state=seed, stratify=strat(name, df))
        train, val = train_test_split(rest, test_size=0.25, random_state=seed, stratify=strat(name, rest))
        for part, frame in (("train", train), ("val", val), ("test", test)):
            s.save(frame, f"data/{part}.{fmt}")
    val_rel = f"data/val.{fmt}"
    if rename_val:
        ws.mv(val_rel, f"data/tuning/validation.{fmt}")
        val_rel = f"data/tuning/validation.{fmt}"
    with ws.step("tune", "tune", train=f"data/train.{fmt}", validation=val_rel) as s:
        tr, va = ws.read(f"data/train.{fmt}"), ws.read(val_rel)
        results = {c: score(name, model_for(name, c).fit(*xy(tr)), *xy(va))[1] for c in GRID}
        best = max(results, key=results.get)
        s.metric("best_validation", results[best], "validation")
        s.save({"C": best}, "models/params.json")
    with ws.step("train", "refit", train=[f"data/train.{fmt}", val_rel], other="models/params.json") as s:
        both = pd.concat([ws.read(f"data/train.{fmt}"), ws.read(val_rel)], ignore_index=True)
        model = model_for(name, best).fit(*xy(both))
        s.save(model, "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=f"data/test.{fmt}") as s:
        s.metric(*score(name, model, *xy(ws.read(f"data/test.{fmt}"))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/refit-train-val/wine")(lambda ws: refit_train_val(ws, "wine"))
pipeline("clean/refit-train-val/breast_cancer-parquet-renamed")(
    lambda ws: refit_train_val(ws, "breast_cancer", fmt="parquet", seed=3, rename_val=True))


# -- a used-up test set becomes validation for a model on fresh rows -----------------------
def test_becomes_validation(ws, name: str, fmt: str = "csv", seed: int = 0, rename_old: bool = False,
                            tune: bool = True) -> dict[str, str]:
    df, src = raw(ws, name, fmt)
    with ws.step("split", "split", other=src) as s:
        # v1 on the first collection, v2 later on a second, fresh one
        first, second = train_test_split(df, test_size=0.5, random_state=seed, stratify=strat(name, df))
        tr1, te1 = train_test_split(first, test_size=0.3, random_state=seed, stratify=strat(name, first))
        tr2, te2 = train_test_split(second, test_size=0.3, random_state=seed, stratify=strat(name, second))
        for rel, frame in (("v1/train", tr1), ("v1/test", te1), ("v2/train", tr2), ("v2/test", te2)):
            s.save(frame, f"data/{rel}.{fmt}")
    with ws.step("train", "train-v1", train=f"data/v1/train.{fmt}") as s:
        v1 = model_for(name).fit(*xy(ws.read(f"data/v1/train.{fmt}")))
        s.save(v1, "models/v1.pkl")
    with ws.step("evaluate", "evaluate-v1", model="models/v1.pkl", test=f"data/v1/test.{fmt}") as s:
        s.metric(*score(name, v1, *xy(ws.read(f"data/v1/test.{fmt}"))), "test")
    old = f"data/v1/test.{fmt}"
    if rename_old:
        ws.mv(old, f"data/v2/validation.{fmt}")
        old = f"data/v2/validation.{fmt}"
    best = 1.0
    if tune:
        with ws.step("tune", "tune-v2", train=f"data/v2/train.{fmt}", validation=old) as s:
            tr, va = ws.read(f"data/v2/train.{fmt}"), ws.read(old)
            results = {c: score(name, model_for(name, c).fit(*xy(tr)), *xy(va))[1] for c in GRID}
            best = max(results, key=results.get)
            s.metric("best_validation", results[best], "validation")
            s.save({"C": best}, "models/params_v2.json")
        inputs = {"other": "models/params_v2.json"}
    else:
        inputs = {"validation": old}  # early stopping style: validation read by the train run
    with ws.step("train", "train-v2", train=f"data/v2/train.{fmt}", **inputs) as s:
        tr = ws.read(f"data/v2/train.{fmt}")
        if not tune:  # the training script picks its regularisation on the validation rows
            va = ws.read(old)
            best = max(GRID, key=lambda c: score(name, model_for(name, c).fit(*xy(tr)), *xy(va))[1])
        v2 = model_for(name, best).fit(*xy(tr))
        s.save(v2, "models/v2.pkl")
    with ws.step("evaluate", "evaluate-v2", model="models/v2.pkl", test=f"data/v2/test.{fmt}") as s:
        s.metric(*score(name, v2, *xy(ws.read(f"data/v2/test.{fmt}"))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/test-becomes-validation/breast_cancer-tune")(lambda ws: test_becomes_validation(ws, "breast_cancer"))
pipeline("clean/test-becomes-validation/diabetes-parquet-renamed")(
    lambda ws: test_becomes_validation(ws, "diabetes", fmt="parquet", seed=2, rename_old=True))
pipeline("clean/test-becomes-validation/wine-train-reads-validation")(
    lambda ws: test_becomes_validation(ws, "wine", seed=1, tune=False))


# -- oversampling inside the training split only --------------------------------------------
def oversample_in_train(ws, name: str, fmt: str = "csv", seed: int = 0) -> dict[str, str]:
    df, src = raw(ws, name, fmt)
    with ws.step("split", "split", other=src) as s:
        train, test = train_test_split(df, test_size=0.25, random_state=seed, stratify=df["target"])
        s.save(train, f"data/train.{fmt}")
        s.save(test, f"data/test.{fmt}")
    with ws.step("transform", "upsample", train=f"data/train.{fmt}") as s:
        tr = ws.read(f"data/train.{fmt}")
        counts = tr["target"].value_counts()
        parts = [tr[tr["target"] == counts.idxmax()]]
        for label in counts.index.drop(counts.idxmax()):
            minority = tr[tr["target"] == label]
            parts.append(resample(minority, replace=True, n_samples=int(counts.max()), random_state=seed))
        up = pd.concat(parts).sample(frac=1.0, random_state=seed)
        s.save(up, f"data/train_balanced.{fmt}")
    with ws.step("train", "train", train=f"data/train_balanced.{fmt}") as s:
        model = model_for(name).fit(*xy(ws.read(f"data/train_balanced.{fmt}")))
        s.save(model, "models/model.pkl")
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=f"data/test.{fmt}") as s:
        s.metric(*score(name, model, *xy(ws.read(f"data/test.{fmt}"))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/oversample-in-train/breast_cancer")(lambda ws: oversample_in_train(ws, "breast_cancer"))
pipeline("clean/oversample-in-train/wine-parquet")(lambda ws: oversample_in_train(ws, "wine", fmt="parquet", seed=5))


# -- plain train/test; a test set re-exported before its one scoring ------------------------
def plain_train_test(ws, name: str, fmt: str = "csv", seed: int = 0, test_size: float = 0.2,
                     reexport: str | None = None) -> dict[str, str]:
    df, src = raw(ws, name, fmt)
    with ws.step("split", "split", other=src) as s:
        train, test = train_test_split(df, test_size=test_size, random_state=seed)
        s.save(train, f"data/train.{fmt}")
        s.save(test, f"data/test.{fmt}")
    with ws.step("train", "train", train=f"data/train.{fmt}") as s:
        model = model_for(name).fit(*xy(ws.read(f"data/train.{fmt}")))
        s.save(model, "models/model.pkl")
    test_rel = f"data/test.{fmt}"
    if reexport:
        # the same rows, columns re-ordered (label first), saved for the scoring service
        with ws.step("transform", "export", test=test_rel) as s:
            te = ws.read(test_rel)
            out = te[["target", *sorted(te.columns.drop("target"), reverse=True)]]
            if reexport == "shuffled":
                out = out.sample(frac=1.0, random_state=seed)
            s.save(out, "data/export/test.parquet")
        test_rel = "data/export/test.parquet"
    with ws.step("evaluate", "evaluate", model="models/model.pkl", test=test_rel) as s:
        te = ws.read(test_rel)
        s.metric(*score(name, model, te[model.feature_names_in_], te["target"]), "test")
    ws.commit()
    return ws.runs


pipeline("clean/train-test/diabetes")(lambda ws: plain_train_test(ws, "diabetes"))
pipeline("clean/train-test/digits-parquet")(
    lambda ws: plain_train_test(ws, "digits", fmt="parquet", seed=1, test_size=0.3))
pipeline("clean/train-test-reexported/breast_cancer")(
    lambda ws: plain_train_test(ws, "breast_cancer", reexport="reordered"))
pipeline("clean/train-test-reexported/wine-shuffled")(
    lambda ws: plain_train_test(ws, "wine", seed=2, test_size=0.3, reexport="shuffled"))


# -- imputer, scaler and PCA fitted on train only inside one sklearn Pipeline ---------------
def preprocessing_pipeline(ws, name: str, fmt: str = "csv", seed: int = 0, missing: float = 0.05,
                           components: int = 5) -> dict[str, str]:
    df = load(name)
    rng = np.random.default_rng(seed)
    features = df.columns.drop("target")
    values = df[features].to_numpy(dtype=float, copy=True)
    values[rng.random(values.shape) < missing] = np.nan  # sensor dropouts in the raw export
    df[features] = values
    src = f"data/raw.{fmt}"
    ws.write(df, src)
    ws.snapshot(src, name="raw", label_column="target")
    with ws.step("split", "split", other=src) as s:
        train, test = train_test_split(df, test_size=0.25, random_state=seed, stratify=strat(name, df))
        s.save(train, f"data/train.{fmt}")
        s.save(test, f"data/test.{fmt}")
    with ws.step("train", "train", train=f"data/train.{fmt}") as s:
        model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), PCA(components, random_state=seed),
                              estimator(name))
        model.fit(*xy(ws.read(f"data/train.{fmt}")))
        s.save(model, "models/pipeline.pkl")
    with ws.step("evaluate", "evaluate", model="models/pipeline.pkl", test=f"data/test.{fmt}") as s:
        s.metric(*score(name, model, *xy(ws.read(f"data/test.{fmt}"))), "test")
    ws.commit()
    return ws.runs


pipeline("clean/preprocessing-pipeline/breast_cancer")(lambda ws: preprocessing_pipeline(ws, "breast_cancer"))
pipeline("clean/preprocessing-pipeline/wine-parquet")(
    lambda ws: preprocessing_pipeline(ws, "wine", fmt="parquet", seed=3, components=4))
pipeline("clean/preprocessing-pipeline/diabetes")(
    lambda ws: preprocessing_pipeline(ws, "diabetes", seed=1, missing=0.1, components=6))


@pipeline("clean/preprocessing-pipeline/iris-deduplicated")
def iris_deduplicated(ws) -> dict[str, str]:
    """iris holds one duplicated row pair: a careful analyst drops it before splitting."""
    df = load("iris").drop_duplicates(ignore_index=True)
    ws.write(df, "data/raw.csv")
    ws.snapshot("data/raw.csv", name="raw", label_column="target")
    with ws.step("split", "split", other="data/raw.csv") as s:
        train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df["target"])
        s.save(train, "data/train.csv")
        s.save(test, "data/test.csv")
    with ws.step("train", "train", train="data/train.csv") as s:
        model = make_pipeline(StandardScaler(), PCA(2), estimator("iris"))
        model.fit(*xy(ws.read("data/train.csv")))
        s.save(model, "models/pipeline.pkl")
    with ws.step("evaluate", "evaluate", model="models/pipeline.pkl", test="data/test.csv") as s:
        s.metric(*score("iris", model, *xy(ws.read("data/test.csv"))), "test")
    ws.commit()
    return ws.runs
