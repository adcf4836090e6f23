"""Leaky pipelines: the mistakes a data scientist really makes, on the bundled datasets, with
real pandas and scikit-learn steps, files renamed, re-serialised and re-ordered between steps.

Each pipeline expects exactly the root-cause rule at error or above: one cause, one finding.
Consequences of the same cause (a model that learned from the test rows also scores well on
them; a test set read by a training run is also "held-out rows read upstream") may appear as
evidence or below error, never as a second error. Where the catalogue itself says that two
rules fire on one mistake (oversampling before the split, docs/audit.md), the pipeline says
why it expects both.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import resample

from audit.pipelines.conftest import REGRESSION, estimator, load, pipeline, score

# -- the steps every pipeline shares ---------------------------------------------------------


def xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features (numeric columns but the label) and label: ID, group and date columns drop out."""
    return frame.drop(columns="target").select_dtypes("number"), frame["target"]


def raw(ws, name: str, fmt: str = "csv", df: pd.DataFrame | None = None, **declared) -> str:
    """The dataset as the team received it, snapshotted with its label declared."""
    rel = f"data/raw.{fmt}"
    ws.write(load(name) if df is None else df, rel)
    ws.snapshot(rel, name="raw", label_column="target", **declared)
    return rel


def declare(ws, rels: list[str], **columns: str) -> None:
    """Declare group/time columns for the files a split writes, in the project's
    pyproject.toml (``[tool.lineage.datasets."data/train.csv"]``), as a team does once."""
    lines = []
    for rel in rels:
        lines.append(f'[tool.lineage.datasets."{rel}"]')
        lines += [f'{key} = "{value}"' for key, value in columns.items()]
        lines.append("")
    (ws.root / "pyproject.toml").write_text("\n".join(lines))
    ws.commit("declare the dataset columns")


def split(ws, src: str, name: str, fmt: str = "csv", parts: tuple[str, ...] = ("train", "test"),
          shuffle: bool = True, seed: int = 0) -> list[str]:
    """A random (stratified for classifiers) split of ``src`` into ``parts``."""
    outs = [f"data/{p}.{fmt}" for p in parts]
    with ws.step("split", "split", other=src) as s:
        df = ws.read(src)
        strat = df["target"] if shuffle and name not in REGRESSION else None
        first, rest = train_test_split(df, test_size=0.3 if len(parts) == 3 else 0.2,
                                       random_state=seed, shuffle=shuffle, stratify=strat)
        frames = [first, rest]
        if len(parts) == 3:
            strat = rest["target"] if shuffle and name not in REGRESSION else None
            frames[1:] = train_test_split(rest, test_size=0.5, random_state=seed, shuffle=shuffle,
                                          stratify=strat)
        for frame, rel in zip(frames, outs):
            s.save(frame, rel)
    return outs


def train(ws, name: str, train_rel: str, model_rel: str = "models/model.pkl", step: str = "train",
          make=None, **roles):
    with ws.step("train", step, train=train_rel, **roles) as s:
        X, y = xy(ws.read(train_rel))
        model = (make() if make else quick_model(name)).fit(X, y)
        s.save(model, model_rel)
    return model


def evaluate(ws, name: str, model_rel: str, test_rel: str, step: str = "evaluate") -> None:
    with ws.step("evaluate", step, model=model_rel, test=test_rel) as s:
        model = ws.read(model_rel)
        X, y = xy(ws.read(test_rel))
        s.metric(*score(name, model, X[list(model.feature_names_in_)], y), "test")


def quick_model(name: str, **params):
    """The dataset's quick model behind a scaler fitted on its own training rows."""
    return make_pipeline(StandardScaler(), estimator(name, **params))


def features_first_reversed(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows with the columns in another order (a re-export through another tool)."""
    return frame[list(frame.columns[::-1])]


# -- 1. a scaler or imputer fitted on every row, then the split ------------------------------
# The model's training file holds no test row: only the preprocessing learned from them. The
# root cause is the fit before the split: fit-on-heldout, and nothing else (not exact-overlap,
# not no-test-set: those compare the rows the model was trained on, not the rows a
# transformer was fitted on).


def prep_before_split(ws, name: str, fmt: str = "csv", imputer: bool = False, one_step: bool = False,
                      rename: bool = False, shuffle_rows: bool = False):
    df = load(name)
    if imputer:  # a few missing measurements, imputed with medians of all rows
        rng = np.random.default_rng(0)
        feats = df.columns.drop("target")
        mask = rng.random((len(df), len(feats))) < 0.05
        df[feats] = df[feats].mask(mask)
    src = raw(ws, name, fmt, df)
    out = f"data/prepared.{fmt}"

    def prepare(prep, frame):
        X, y = xy(frame)
        done = pd.DataFrame(prep.transform(X), columns=X.columns, index=frame.index)
        done["target"] = y
        return done.sample(frac=1, random_state=1) if shuffle_rows else done

    with ws.step("fit", "prep", train=src) as s:
        frame = ws.read(src)
        prep = (SimpleImputer(strategy="median") if imputer else StandardScaler()).fit(xy(frame)[0])
        s.save(prep, "models/prep.pkl")
        if one_step:  # fit_transform in the same script
            s.save(prepare(prep, frame), out)
    if not one_step:
        with ws.step("transform", "transform", model="models/prep.pkl", other=src) as s:
            s.save(prepare(prep, ws.read(src)), out)
    if rename:
        ws.mv(out, f"data/clean/all.{fmt}")
        out = f"data/clean/all.{fmt}"
    train_rel, test_rel = split(ws, out, name, fmt)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/scaler-before-split/breast_cancer", {"fit-on-heldout"})(
    lambda ws: prep_before_split(ws, "breast_cancer"))
pipeline("leak/imputer-before-split/wine-parquet", {"fit-on-heldout"})(
    lambda ws: prep_before_split(ws, "wine", "parquet", imputer=True))
pipeline("leak/scaler-before-split/diabetes-fit-transform-renamed-shuffled", {"fit-on-heldout"})(
    lambda ws: prep_before_split(ws, "diabetes", one_step=True, rename=True, shuffle_rows=True))
pipeline("leak/scaler-before-split/digits-parquet-renamed", {"fit-on-heldout"})(
    lambda ws: prep_before_split(ws, "digits", "parquet", rename=True))


# -- 2. feature selection / target encoding fitted on every row; the file moved with mv ------
# The fit read the rows the split later cut the test set from; a teammate's `mv` of the
# fitted output (same bytes, new name) must not break the chain: fit-on-heldout.


def select_before_split(ws, name: str, fmt: str = "csv"):
    src = raw(ws, name, fmt)
    with ws.step("fit", "select", train=src) as s:
        frame = ws.read(src)
        X, y = xy(frame)
        sel = SelectKBest(f_regression if name in REGRESSION else f_classif, k=min(10, X.shape[1] // 2))
        sel.fit(X, y)
        s.save(sel, "models/selector.pkl")
        chosen = frame[list(X.columns[sel.get_support()]) + ["target"]]
        s.save(chosen, f"data/selected.{fmt}")
    ws.mv(f"data/selected.{fmt}", f"data/features/v2.{fmt}")
    train_rel, test_rel = split(ws, f"data/features/v2.{fmt}", name, fmt)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


def target_encode_before_split(ws, name: str, fmt: str = "csv"):
    df = load(name)
    first = df.columns[0]  # a categorical column, as the data came: the site of measurement
    df.insert(0, "site", pd.qcut(df[first], 6, labels=[f"site{i}" for i in range(6)]).astype(str))
    src = raw(ws, name, fmt, df)
    with ws.step("fit", "encode", train=src) as s:
        frame = ws.read(src)
        means = frame.groupby("site")["target"].mean()
        s.save({k: float(v) for k, v in means.items()}, "models/site_encoding.json")
        encoded = frame.assign(site_te=frame["site"].map(means)).drop(columns="site")
        s.save(encoded, f"data/encoded.{fmt}")
    ws.mv(f"data/encoded.{fmt}", f"data/model_input.{fmt}")
    train_rel, test_rel = split(ws, f"data/model_input.{fmt}", name, fmt)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/select-before-split-mv/breast_cancer", {"fit-on-heldout"})(
    lambda ws: select_before_split(ws, "breast_cancer"))
pipeline("leak/select-before-split-mv/diabetes-parquet", {"fit-on-heldout"})(
    lambda ws: select_before_split(ws, "diabetes", "parquet"))
pipeline("leak/target-encoding-before-split-mv/breast_cancer", {"fit-on-heldout"})(
    lambda ws: target_encode_before_split(ws, "breast_cancer"))
pipeline("leak/target-encoding-before-split-mv/diabetes-parquet", {"fit-on-heldout"})(
    lambda ws: target_encode_before_split(ws, "diabetes", "parquet"))


# -- 3. the validation set, re-exported, used as the test set --------------------------------
# The rule is chosen by the run that read those rows as validation:
# - early stopping happens inside training: a `train` run read, as validation, content whose
#   rows are then the test set of that same model, and the scoring came after the read ->
#   train-read-heldout;
# - choosing C is the orchestrator's job: a `tune` run read them -> tune-read-test.
# The re-export (columns re-ordered, rows shuffled, CSV to Parquet) gives other bytes and
# other file names; the rows are the same, which is what must be compared.


def sgd_early_stopped(name: str, tr: pd.DataFrame, va: pd.DataFrame):
    """SGD with early stopping on the validation rows: the best of 20 epochs."""
    X, y = xy(tr)
    Xv, yv = xy(va)
    scaler = StandardScaler().fit(X)
    Xs, Xvs = scaler.transform(X), scaler.transform(Xv[list(X.columns)])
    if name in REGRESSION:
        sgd, kw = SGDRegressor(random_state=0), {}
    else:
        sgd, kw = SGDClassifier(random_state=0), {"classes": np.unique(y)}
    best, best_score = None, -np.inf
    for _ in range(20):
        sgd.partial_fit(Xs, y, **kw)
        val = sgd.score(Xvs, yv)
        if val > best_score:
            best, best_score = copy.deepcopy(sgd), val
    return make_pipeline(scaler, best), best_score


def reexport(ws, src: str, dst: str, *, reorder: bool, shuffle: bool) -> None:
    with ws.step("other", "export", other=src) as s:
        frame = ws.read(src)
        if reorder:
            frame = features_first_reversed(frame)
        if shuffle:
            frame = frame.sample(frac=1, random_state=7)
        s.save(frame, dst)


def early_stopped_then_tested_on_val(ws, name: str, fmt: str = "csv", dst: str = "data/holdout.csv",
                                     shuffle: bool = False):
    src = raw(ws, name, fmt)
    train_rel, val_rel = split(ws, src, name, fmt, parts=("train", "val"))
    with ws.step("train", "train", train=train_rel, validation=val_rel) as s:
        model, best = sgd_early_stopped(name, ws.read(train_rel), ws.read(val_rel))
        s.metric("best_validation", round(float(best), 6), "validation")
        s.save(model, "models/model.pkl")
    reexport(ws, val_rel, dst, reorder=True, shuffle=shuffle)
    evaluate(ws, name, "models/model.pkl", dst)
    ws.commit()


def tuned_then_tested_on_val(ws, name: str, fmt: str = "csv", dst: str = "data/final_test.parquet",
                             shuffle: bool = True):
    src = raw(ws, name, fmt)
    train_rel, val_rel = split(ws, src, name, fmt, parts=("train", "val"))
    with ws.step("tune", "tune", train=train_rel, validation=val_rel) as s:
        tr, va = ws.read(train_rel), ws.read(val_rel)
        results = {}
        for c in (0.01, 0.1, 1.0, 10.0):
            m = quick_model(name, C=c, alpha=c).fit(*xy(tr))
            results[c] = score(name, m, *xy(va))[1]
        best = max(results, key=results.get)
        s.metric("best_validation", results[best], "validation")
        s.save({"C": best}, "models/params.json")
    with ws.step("train", "train", train=train_rel, other="models/params.json") as s:
        model = quick_model(name, C=best, alpha=best).fit(*xy(ws.read(train_rel)))
        s.save(model, "models/model.pkl")
    reexport(ws, val_rel, dst, reorder=True, shuffle=shuffle)
    evaluate(ws, name, "models/model.pkl", dst)
    ws.commit()


pipeline("leak/val-reexported-as-test/early-stopping-breast_cancer-reordered", {"train-read-heldout"})(
    lambda ws: early_stopped_then_tested_on_val(ws, "breast_cancer"))
pipeline("leak/val-reexported-as-test/early-stopping-digits-parquet-shuffled", {"train-read-heldout"})(
    lambda ws: early_stopped_then_tested_on_val(ws, "digits", "parquet", "data/holdout.csv", shuffle=True))
pipeline("leak/val-reexported-as-test/tuned-wine-to-parquet-shuffled", {"tune-read-test"})(
    lambda ws: tuned_then_tested_on_val(ws, "wine"))
pipeline("leak/val-reexported-as-test/tuned-diabetes-parquet-reordered", {"tune-read-test"})(
    lambda ws: tuned_then_tested_on_val(ws, "diabetes", "parquet", "data/report/test.csv", shuffle=False))


# -- 4. test rows copied into the training file ----------------------------------------------
# Part of the test set concatenated to the training rows and shuffled: the held-out rows are
# in the model's training file -> exact-overlap. Only a part of the test set is copied, so it
# is not "a test set entirely inside the training rows" (no-test-set); the copying run reads
# the two files as plain inputs (`other`): no learning run read them as held-out data. The
# training file is not the test set re-serialised (a quarter, or half, of its rows in a file
# of mostly training rows), so train-read-heldout, whose row-level form catches a held-out
# set under another name or format, is not the root cause: the copied rows are, and
# exact-overlap counts them.


def test_rows_in_train(ws, name: str, fmt: str = "csv", frac: float = 0.25, reorder: bool = False):
    src = raw(ws, name, fmt)
    train_rel, test_rel = split(ws, src, name, fmt)
    out = f"data/train_more.{fmt}"
    with ws.step("other", "augment", other=[train_rel, test_rel]) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        more = pd.concat([tr, te.sample(frac=frac, random_state=2)]).sample(frac=1, random_state=3)
        s.save(features_first_reversed(more) if reorder else more, out)
    train(ws, name, out)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/test-rows-in-train/breast_cancer", {"exact-overlap"})(
    lambda ws: test_rows_in_train(ws, "breast_cancer"))
pipeline("leak/test-rows-in-train/wine-parquet-half-reordered", {"exact-overlap"})(
    lambda ws: test_rows_in_train(ws, "wine", "parquet", frac=0.5, reorder=True))


# -- 5. "fresh" test rows that are training rows plus 1e-9 relative noise --------------------
# No byte and no exact row fingerprint in common, yet every test row is a training row:
# near-duplicate (numeric), and nothing else.


def jittered_training_rows_as_test(ws, name: str, fmt: str = "csv"):
    src = raw(ws, name, fmt)
    train_rel, _ = split(ws, src, name, fmt)
    train(ws, name, train_rel)
    out = f"data/fresh_test.{fmt}"
    with ws.step("other", "simulate", other=train_rel) as s:
        tr = ws.read(train_rel).sample(frac=0.3, random_state=4)
        rng = np.random.default_rng(5)
        feats = list(xy(tr)[0].columns)
        tr[feats] = tr[feats] * (1 + 1e-9 * rng.standard_normal((len(tr), len(feats))))
        s.save(tr, out)
    evaluate(ws, name, "models/model.pkl", out)
    ws.commit()


pipeline("leak/jittered-train-as-test/breast_cancer", {"near-duplicate"})(
    lambda ws: jittered_training_rows_as_test(ws, "breast_cancer"))
pipeline("leak/jittered-train-as-test/diabetes-parquet", {"near-duplicate"})(
    lambda ws: jittered_training_rows_as_test(ws, "diabetes", "parquet"))


# -- 6. oversampling before the split --------------------------------------------------------
# Upsampling the minority class (sklearn.utils.resample, with replacement) copies rows; the
# split then puts copies of one row on both sides -> exact-overlap, in both variants.
# - Recorded as a `transform` (plain duplication, nothing learned): exact-overlap only.
# - Recorded as a `fit` (a sampler with fit_resample, reading the data as its training
#   input): a learning run upstream of the model read the rows the split later cut the test
#   set from, which is fit-on-heldout by its own definition, and docs/audit.md says both
#   fire on oversampling before the split: the copies (overlap) and the learned step (fit)
#   are two harms, each fixed on its own (dedupe vs move the step after the split).


def oversample_before_split(ws, name: str, fmt: str = "csv", kind: str = "transform"):
    src = raw(ws, name, fmt)
    out = f"data/balanced.{fmt}"
    role = {"train": src} if kind == "fit" else {"other": src}
    with ws.step(kind, "oversample", **role) as s:
        frame = ws.read(src)
        major = int(frame["target"].value_counts().max())
        parts = [g if len(g) == major else pd.concat([g, resample(g, replace=True, n_samples=major - len(g),
                                                                   random_state=0)])
                 for _, g in frame.groupby("target")]
        s.save(pd.concat(parts).sample(frac=1, random_state=1), out)
    train_rel, test_rel = split(ws, out, name, fmt)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/oversample-before-split/breast_cancer-transform", {"exact-overlap"})(
    lambda ws: oversample_before_split(ws, "breast_cancer"))
pipeline("leak/oversample-before-split/wine-parquet-fit", {"exact-overlap", "fit-on-heldout"})(
    lambda ws: oversample_before_split(ws, "wine", "parquet", kind="fit"))
pipeline("leak/oversample-before-split/breast_cancer-fit", {"exact-overlap", "fit-on-heldout"})(
    lambda ws: oversample_before_split(ws, "breast_cancer", kind="fit"))


# -- 7. choosing C by the test score ---------------------------------------------------------
# A tune run reads test.csv (as `validation`, as the script called it, or honestly as `test`)
# and the chosen model is then scored on the same file -> tune-read-test. The train run reads
# only the training rows and the chosen parameters: no train-read-heldout.


def tuned_on_test(ws, name: str, fmt: str = "csv", role: str = "validation"):
    src = raw(ws, name, fmt)
    train_rel, test_rel = split(ws, src, name, fmt)
    with ws.step("tune", "tune", train=train_rel, **{role: test_rel}) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        results = {c: score(name, quick_model(name, C=c, alpha=c).fit(*xy(tr)), *xy(te))[1]
                   for c in (0.01, 0.1, 1.0, 10.0)}
        best = max(results, key=results.get)
        s.metric("best_score", results[best], "validation" if role == "validation" else "test")
        s.save({"C": best}, "models/params.json")
    with ws.step("train", "train", train=train_rel, other="models/params.json") as s:
        s.save(quick_model(name, C=best, alpha=best).fit(*xy(ws.read(train_rel))), "models/model.pkl")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/tuned-on-test/wine-as-validation", {"tune-read-test"})(
    lambda ws: tuned_on_test(ws, "wine"))
pipeline("leak/tuned-on-test/diabetes-parquet-as-test", {"tune-read-test"})(
    lambda ws: tuned_on_test(ws, "diabetes", "parquet", role="test"))


# -- 8. one test set, several final scorings -------------------------------------------------
# Three models, each scored on the test set: the first scoring is fine, every later one is a
# reuse, whether of the same file, of a renamed copy (mv) or of a shuffled re-export
# -> test-reuse. (Picking the best of them is selection-optimism, a warning.)


def test_reuse(ws, name: str, fmt: str = "csv", rename: bool = True):
    src = raw(ws, name, fmt)
    train_rel, test_rel = split(ws, src, name, fmt)
    makers = [lambda: quick_model(name), lambda: DecisionTreeClassifier(random_state=0),
              lambda: KNeighborsClassifier(5)]
    for i, make in enumerate(makers):
        train(ws, name, train_rel, f"models/model_{i}.pkl", step=f"train_{i}", make=make)
    evaluate(ws, name, "models/model_0.pkl", test_rel, step="evaluate_0")
    if rename:
        ws.mv(test_rel, f"data/holdout/final.{fmt}")
        test_rel = f"data/holdout/final.{fmt}"
    evaluate(ws, name, "models/model_1.pkl", test_rel, step="evaluate_1")
    shuffled = "data/holdout/final_shuffled.parquet"
    reexport(ws, test_rel, shuffled, reorder=False, shuffle=True)
    evaluate(ws, name, "models/model_2.pkl", shuffled, step="evaluate_2")
    ws.commit()


pipeline("leak/test-reuse/breast_cancer-renamed-and-shuffled", {"test-reuse"})(
    lambda ws: test_reuse(ws, "breast_cancer"))
pipeline("leak/test-reuse/digits-same-file-then-shuffled", {"test-reuse"})(
    lambda ws: test_reuse(ws, "digits", rename=False))


# -- 9. groups and time: a random split where the data has structure -------------------------
# group-overlap: three visits per patient (declared group column), split by row, not by
# patient. temporal-order: one row a day (declared time column), split at random.


def patients_split_by_row(ws, name: str, fmt: str = "csv"):
    df = load(name)
    rng = np.random.default_rng(6)
    df.insert(0, "patient", [f"p{i:04d}" for i in rng.permutation(len(df)) // 3])
    declare(ws, [f"data/train.{fmt}", f"data/test.{fmt}"], group="patient", label="target")
    src = raw(ws, name, fmt, df, group_column="patient")
    train_rel, test_rel = split(ws, src, name, fmt)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


def time_series_split_at_random(ws, name: str, fmt: str = "csv"):
    df = load(name)
    df.insert(0, "day", pd.date_range("2021-01-01", periods=len(df), freq="D").strftime("%Y-%m-%d"))
    declare(ws, [f"data/train.{fmt}", f"data/test.{fmt}"], time="day", label="target")
    src = raw(ws, name, fmt, df, time_column="day")
    train_rel, test_rel = split(ws, src, name, fmt)
    train(ws, name, train_rel)
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/group-split-by-row/breast_cancer", {"group-overlap"})(
    lambda ws: patients_split_by_row(ws, "breast_cancer"))
pipeline("leak/group-split-by-row/wine-parquet", {"group-overlap"})(
    lambda ws: patients_split_by_row(ws, "wine", "parquet"))
pipeline("leak/time-split-at-random/diabetes", {"temporal-order"})(
    lambda ws: time_series_split_at_random(ws, "diabetes"))
pipeline("leak/time-split-at-random/breast_cancer-parquet", {"temporal-order"})(
    lambda ws: time_series_split_at_random(ws, "breast_cancer", "parquet"))


# -- 10. a training run that reads the test set ----------------------------------------------
# The train run declares the test file as `test` (it watches the test score while training)
# -> train-read-heldout. That the model behind the scoring read its test rows is the same
# cause: not a second error (fit-on-heldout, tune-read-test).


def train_reads_test(ws, name: str, fmt: str = "csv", copy_to: str | None = None):
    src = raw(ws, name, fmt)
    train_rel, test_rel = split(ws, src, name, fmt)
    read_rel = test_rel
    if copy_to:  # the test set as the training script found it: a re-serialised copy
        reexport(ws, test_rel, copy_to, reorder=True, shuffle=True)
        read_rel = copy_to
    with ws.step("train", "train", train=train_rel, test=read_rel) as s:
        fitted = quick_model(name).fit(*xy(ws.read(train_rel)))
        X, y = xy(ws.read(read_rel))
        s.metric(*score(name, fitted, X[list(fitted.feature_names_in_)], y), "test")
        s.save(fitted, "models/model.pkl")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/train-reads-test/wine", {"train-read-heldout"})(
    lambda ws: train_reads_test(ws, "wine"))
pipeline("leak/train-reads-test/breast_cancer-parquet-copy", {"train-read-heldout"})(
    lambda ws: train_reads_test(ws, "breast_cancer", "parquet", copy_to="data/monitor.csv"))
