"""Variants of everyday pipelines: the way files really travel between steps (pandas' default
index column, rounded floats, TSV, gzip, Parquet), splits done in a notebook and only
snapshotted, reruns, failed runs, stacking, calibration and thresholds on validation, and
leaks in new clothes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler

from audit.pipelines.conftest import REGRESSION, load, pipeline, score
from audit.pipelines.shapes_leaks import evaluate, quick_model, raw, sgd_early_stopped, split, train, xy


def to_csv(ws, frame: pd.DataFrame, rel: str, **kw) -> None:
    """``frame.to_csv(rel, **kw)`` as a script writes it (pandas' defaults: the index too)."""
    path = ws.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, **kw)


def read_csv(ws, rel: str, **kw) -> pd.DataFrame:
    return pd.read_csv(ws.root / rel, **kw)


# -- 1. pandas' default index column at some steps and not others ---------------------------
# The split writes train/test with ``to_csv(path)`` (an ``Unnamed: 0`` column holding the
# row's position in raw.csv); later steps read with ``index_col=0`` and write without it.


def index_column_clean(ws, name: str):
    src = raw(ws, name)
    with ws.step("split", "split", other=src) as s:
        df = ws.read(src)
        tr, te = train_test_split(df, test_size=0.25, random_state=0)
        for frame, rel in ((tr, "data/train.csv"), (te, "data/test.csv")):
            to_csv(ws, frame, rel)  # index=True, pandas' default
            s.run.output(ws.root / rel)
    with ws.step("fit", "scaler", train="data/train.csv") as s:
        X, _ = xy(read_csv(ws, "data/train.csv", index_col=0))
        scaler = StandardScaler().fit(X)
        s.save(scaler, "models/scaler.pkl")
    for part, role in (("train", "train"), ("test", "test")):
        with ws.step("transform", model="models/scaler.pkl", **{role: f"data/{part}.csv"}) as s:
            frame = read_csv(ws, f"data/{part}.csv", index_col=0)
            X, y = xy(frame)
            out = pd.DataFrame(scaler.transform(X), columns=X.columns).assign(target=y.to_numpy())
            s.save(out, f"data/{part}_scaled.csv")
    train(ws, name, "data/train_scaled.csv")
    evaluate(ws, name, "models/model.pkl", "data/test_scaled.csv")
    ws.commit()


pipeline("clean/variants/index-column-at-split/breast_cancer")(lambda ws: index_column_clean(ws, "breast_cancer"))


# Test rows appended to the training file by a `transform` run that writes with pandas'
# defaults: the copies carry an ``Unnamed: 0`` column (their position in the file they came
# from) that the test file does not have. They are still the test rows: exact-overlap.


def test_rows_appended_with_index(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("transform", "augment", train=train_rel, test=test_rel) as s:
        tr, te = ws.read(train_rel), ws.read(test_rel)
        more = pd.concat([tr, te.sample(frac=0.3, random_state=2)])
        to_csv(ws, more, "data/train_more.csv")  # index=True
        s.run.output(ws.root / "data/train_more.csv")
    with ws.step("train", "train", train="data/train_more.csv") as s:
        X, y = xy(read_csv(ws, "data/train_more.csv", index_col=0))
        s.save(quick_model(name).fit(X, y), "models/model.pkl")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/variants/test-rows-appended-with-index-column/wine", {"exact-overlap"})(
    lambda ws: test_rows_appended_with_index(ws, "wine"))


# -- 2. float formatting between steps -------------------------------------------------------
# Scaled test rows copied into the training file, written with ``float_format="%.6f"``: the
# copies are the test rows to six decimals (not bytes, not exact fingerprints), which is
# what near-duplicate is for.


def scaled_test_rows_rounded_into_train(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("fit", "scaler", train=train_rel) as s:
        scaler = StandardScaler().fit(xy(ws.read(train_rel))[0])
        s.save(scaler, "models/scaler.pkl")
    scaled = {}
    for rel, role in ((train_rel, "train"), (test_rel, "test")):
        out = rel.replace(".csv", "_scaled.csv")
        with ws.step("transform", model="models/scaler.pkl", **{role: rel}) as s:
            X, y = xy(ws.read(rel))
            s.save(pd.DataFrame(scaler.transform(X), columns=X.columns).assign(target=y.to_numpy()), out)
        scaled[role] = out
    with ws.step("other", "augment", other=[scaled["train"], scaled["test"]]) as s:
        tr, te = ws.read(scaled["train"]), ws.read(scaled["test"])
        more = pd.concat([tr, te.sample(frac=0.4, random_state=2)]).sample(frac=1, random_state=3)
        to_csv(ws, more, "data/train_more.csv", index=False, float_format="%.6f")
        s.run.output(ws.root / "data/train_more.csv")
    train(ws, name, "data/train_more.csv")
    evaluate(ws, name, "models/model.pkl", scaled["test"])
    ws.commit()


pipeline("leak/variants/scaled-test-rows-rounded-6dp-into-train/breast_cancer", {"near-duplicate"})(
    lambda ws: scaled_test_rows_rounded_into_train(ws, "breast_cancer"))


# -- 3. the split done in a notebook: only train.csv and test.csv are snapshotted -----------


def notebook_split(ws, name: str, seed: int = 0, fmt: str = "csv", tsv_gz: bool = False,
                   snapshot_raw: bool = False):
    df = load(name)
    if snapshot_raw:  # the file the notebook split, snapshotted as received
        raw(ws, name, df=df)
    tr, te = train_test_split(df, test_size=0.3, random_state=seed,
                              stratify=None if name in REGRESSION else df["target"])
    train_rel = f"data/train.{fmt}"
    test_rel = "data/test.tsv" if tsv_gz else f"data/test.{fmt}"
    ws.write(tr, train_rel)
    if tsv_gz:
        path = ws.root / "data/train.csv.gz"
        tr.to_csv(path, index=False, compression="gzip")
        train_rel = "data/train.csv.gz"
    ws.write(te, test_rel)
    ws.snapshot(train_rel, name="train", label_column="target")
    ws.snapshot(test_rel, name="test", label_column="target")
    with ws.step("train", "train", train=train_rel) as s:
        frame = pd.read_csv(ws.root / train_rel) if tsv_gz else ws.read(train_rel)
        s.save(quick_model(name).fit(*xy(frame)), "models/model.pkl")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


# Seeds 0 and 6 put one copy of iris's duplicated row pair on each side. With the raw file
# snapshotted, the copies are the data's own duplicates (exact-overlap's warning), as when a
# split run is recorded. (Without any snapshot of the raw file nothing tells a copied row from
# a duplicate of the data: not registered.)
for _seed in (0, 6):
    pipeline(f"clean/variants/notebook-split/iris-seed{_seed}-raw-snapshotted")(
        lambda ws, _s=_seed: notebook_split(ws, "iris", seed=_s, snapshot_raw=True))
pipeline("clean/variants/notebook-split/iris-seed3")(lambda ws: notebook_split(ws, "iris", seed=3))
pipeline("clean/variants/notebook-split/wine-gzip-csv-and-tsv")(
    lambda ws: notebook_split(ws, "wine", tsv_gz=True))


# iris with a recorded split, over several seeds (seeds 0 and 6 cut its duplicated pair apart).


def iris_split(ws, seed: int):
    src = raw(ws, "iris")
    train_rel, val_rel, test_rel = split(ws, src, "iris", parts=("train", "val", "test"), seed=seed)
    with ws.step("tune", "tune", train=train_rel, validation=val_rel) as s:
        tr, va = ws.read(train_rel), ws.read(val_rel)
        res = {c: score("iris", quick_model("iris", C=c).fit(*xy(tr)), *xy(va))[1] for c in (0.1, 1.0, 10.0)}
        best = max(res, key=res.get)
        s.save({"C": best}, "models/params.json")
    with ws.step("train", "train", train=train_rel, other="models/params.json") as s:
        s.save(quick_model("iris", C=best).fit(*xy(ws.read(train_rel))), "models/model.pkl")
    evaluate(ws, "iris", "models/model.pkl", test_rel)
    ws.commit()


for _seed in (0, 1, 6, 7):
    pipeline(f"clean/variants/iris-train-val-test/seed{_seed}")(lambda ws, _s=_seed: iris_split(ws, _s))


# -- 4. feature engineering after the split, fitted on train only ----------------------------


def features_after_split(ws, name: str, fmt: str = "csv"):
    df = load(name)
    first = df.columns[0]
    df.insert(0, "site", pd.qcut(df[first], 4, labels=[f"site{i}" for i in range(4)]).astype(str))
    src = raw(ws, name, fmt, df)
    train_rel, val_rel, test_rel = split(ws, src, name, fmt, parts=("train", "val", "test"))
    cols = list(df.columns[1:4])
    with ws.step("fit", "features", train=train_rel) as s:
        tr = ws.read(train_rel)
        poly = PolynomialFeatures(2, include_bias=False).fit(tr[cols])
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(tr[["site"]])
        s.save((poly, onehot), "models/features.pkl")

    def engineer(frame):
        p = pd.DataFrame(poly.transform(frame[cols]), columns=poly.get_feature_names_out(), index=frame.index)
        o = pd.DataFrame(onehot.transform(frame[["site"]]), columns=onehot.get_feature_names_out(),
                         index=frame.index)
        return pd.concat([frame.drop(columns=["site", *cols]), p, o], axis=1)

    out = {}
    for rel, role in ((train_rel, "train"), (val_rel, "validation"), (test_rel, "test")):
        out[role] = rel.replace(f".{fmt}", f"_fe.{fmt}")
        with ws.step("transform", model="models/features.pkl", **{role: rel}) as s:
            s.save(engineer(ws.read(rel)), out[role])
    with ws.step("train", "train", train=out["train"], validation=out["validation"]) as s:
        X, y = xy(ws.read(out["train"]))
        Xv, yv = xy(ws.read(out["validation"]))
        model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
        s.metric("accuracy", round(float(model.score(Xv, yv)), 6), "validation")
        s.save(model, "models/model.pkl")
    evaluate(ws, name, "models/model.pkl", out["test"])
    ws.commit()


pipeline("clean/variants/poly-onehot-after-split/breast_cancer")(lambda ws: features_after_split(ws, "breast_cancer"))


# -- 5. stacking on out-of-fold predictions; calibration and threshold on validation ---------


def stacking(ws, name: str):
    src = raw(ws, name)
    train_rel, val_rel, test_rel = split(ws, src, name, parts=("train", "val", "test"))
    bases = {"lr": lambda: quick_model(name), "rf": lambda: RandomForestClassifier(50, random_state=0)}
    with ws.step("train", "base", train=train_rel) as s:
        X, y = xy(ws.read(train_rel))
        oof = pd.DataFrame({k: cross_val_predict(make(), X, y, cv=5, method="predict_proba")[:, 1]
                            for k, make in bases.items()}).assign(target=y.to_numpy())
        s.save(oof, "data/oof.csv")
        fitted = {k: make().fit(X, y) for k, make in bases.items()}
        s.save(list(fitted.items()), "models/bases.pkl")
    with ws.step("train", "meta", train="data/oof.csv") as s:
        oof = ws.read("data/oof.csv")
        meta = LogisticRegression().fit(oof[list(bases)], oof["target"])
        s.save(meta, "models/meta.pkl")
    preds = {}
    for rel, role in ((val_rel, "validation"), (test_rel, "test")):
        preds[role] = rel.replace(".csv", "_base_preds.csv")
        with ws.step("transform", model="models/bases.pkl", **{role: rel}) as s:
            X, y = xy(ws.read(rel))
            s.save(pd.DataFrame({k: m.predict_proba(X)[:, 1] for k, m in fitted.items()})
                   .assign(target=y.to_numpy()), preds[role])
    with ws.step("fit", "calibrate", model="models/meta.pkl", validation=preds["validation"]) as s:
        va = ws.read(preds["validation"])
        cal = CalibratedClassifierCV(meta, cv=2, method="sigmoid").fit(va[list(bases)], va["target"])
        s.save(cal, "models/calibrated.pkl")
    with ws.step("tune", "threshold", model="models/calibrated.pkl", validation=preds["validation"]) as s:
        va = ws.read(preds["validation"])
        p = cal.predict_proba(va[list(bases)])[:, 1]
        best = max(np.linspace(0.1, 0.9, 17), key=lambda t: float(((p >= t) == va["target"]).mean()))
        s.save({"threshold": round(float(best), 3)}, "models/threshold.json")
    with ws.step("evaluate", "evaluate", model=["models/calibrated.pkl", "models/threshold.json"],
                 test=preds["test"]) as s:
        te = ws.read(preds["test"])
        acc = float(((cal.predict_proba(te[list(bases)])[:, 1] >= best) == te["target"]).mean())
        s.metric("accuracy", round(acc, 6), "test")
    ws.commit()


pipeline("clean/variants/stacking-oof-calibrated-threshold/breast_cancer")(lambda ws: stacking(ws, "breast_cancer"))


# -- 6. reruns ----------------------------------------------------------------------------


def once(ws, name: str, train_rel: str, test_rel: str, step: str) -> None:
    train(ws, name, train_rel, step=f"train{step}")
    evaluate(ws, name, "models/model.pkl", test_rel, step=f"evaluate{step}")


def rerun_identical(ws, name: str, code_change: bool = False):
    """The whole script run twice: the same bytes written again, the same model scored."""
    for attempt in range(2):
        src = raw(ws, name)
        train_rel, test_rel = split(ws, src, name)
        once(ws, name, train_rel, test_rel, str(attempt))
        if code_change:  # a refactoring that does not change what is computed
            (ws.root / "pipeline.py").write_text(f"# the pipeline's code lives in the test (v{attempt + 2})\n")
        ws.commit(f"attempt {attempt}")


pipeline("clean/variants/rerun-identical/wine")(lambda ws: rerun_identical(ws, "wine"))
pipeline("clean/variants/rerun-after-refactoring/breast_cancer")(
    lambda ws: rerun_identical(ws, "breast_cancer", code_change=True))


def evaluation_failed_then_succeeded(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    train(ws, name, train_rel)
    try:
        with ws.step("evaluate", "evaluate_failed", model="models/model.pkl", test=test_rel):
            X, y = xy(ws.read(test_rel))
            raise KeyError("feature_names mismatch")  # the script crashed before scoring
    except KeyError:
        pass
    train(ws, name, train_rel, step="retrain")  # retrained on the same data: the same bytes
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("clean/variants/evaluation-failed-then-succeeded/breast_cancer")(
    lambda ws: evaluation_failed_then_succeeded(ws, "breast_cancer"))


# -- 7. leaks in new clothes ---------------------------------------------------------------


def dedup_merge_resplit(ws, name: str):
    """train+test merged "to deduplicate", re-split with another seed; the new model is
    scored on the original test file, 70 % of whose rows are now in its training file."""
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("transform", "dedup", other=[train_rel, test_rel]) as s:
        both = pd.concat([ws.read(train_rel), ws.read(test_rel)]).drop_duplicates()
        s.save(both, "data/dedup.csv")
    with ws.step("split", "resplit", other="data/dedup.csv") as s:
        df = ws.read("data/dedup.csv")
        tr2, te2 = train_test_split(df, test_size=0.2, random_state=42, stratify=df["target"])
        s.save(tr2, "data/v2/train.csv")
        s.save(te2, "data/v2/test.csv")
    train(ws, name, "data/v2/train.csv")
    evaluate(ws, name, "models/model.pkl", test_rel)
    ws.commit()


pipeline("leak/variants/dedup-merge-resplit-scored-on-old-test/breast_cancer", {"exact-overlap"})(
    lambda ws: dedup_merge_resplit(ws, "breast_cancer"))


def pca_on_train_and_test(ws, name: str):
    src = raw(ws, name)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("fit", "pca", train=[train_rel, test_rel]) as s:
        X = pd.concat([xy(ws.read(train_rel))[0], xy(ws.read(test_rel))[0]])
        pca = PCA(5, random_state=0).fit(StandardScaler().fit_transform(X))
        s.save(pca, "models/pca.pkl")
    out = {}
    for rel, role in ((train_rel, "train"), (test_rel, "test")):
        out[role] = rel.replace(".csv", "_pca.csv")
        with ws.step("transform", model="models/pca.pkl", **{role: rel}) as s:
            X, y = xy(ws.read(rel))
            Z = pca.transform(StandardScaler().fit_transform(X))
            s.save(pd.DataFrame(Z, columns=[f"pc{i}" for i in range(5)]).assign(target=y.to_numpy()), out[role])
    train(ws, name, out["train"])
    evaluate(ws, name, "models/model.pkl", out["test"])
    ws.commit()


pipeline("leak/variants/pca-fitted-on-train-and-test/wine", {"fit-on-heldout"})(
    lambda ws: pca_on_train_and_test(ws, "wine"))


def target_encoding_on_all_rows_after_split(ws, name: str):
    """The split ran first; then the site's mean target is computed over raw.csv, every row,
    and joined onto train and test."""
    df = load(name)
    first = df.columns[0]
    df.insert(0, "site", pd.qcut(df[first], 6, labels=[f"site{i}" for i in range(6)]).astype(str))
    src = raw(ws, name, "csv", df)
    train_rel, test_rel = split(ws, src, name)
    with ws.step("fit", "encode", train=src) as s:
        means = ws.read(src).groupby("site")["target"].mean()
        s.save({k: float(v) for k, v in means.items()}, "models/site_encoding.json")
    out = {}
    for rel, role in ((train_rel, "train"), (test_rel, "test")):
        out[role] = rel.replace(".csv", "_te.csv")
        with ws.step("transform", model="models/site_encoding.json", **{role: rel}) as s:
            frame = ws.read(rel)
            s.save(frame.assign(site_te=frame["site"].map(means)).drop(columns="site"), out[role])
    train(ws, name, out["train"])
    evaluate(ws, name, "models/model.pkl", out["test"])
    ws.commit()


pipeline("leak/variants/target-encoding-on-all-rows-after-split/breast_cancer", {"fit-on-heldout"})(
    lambda ws: target_encoding_on_all_rows_after_split(ws, "breast_cancer"))


def val_renamed_and_parquet_in_notebook(ws, name: str):
    """Early stopping on val.csv; later val.csv is moved to archive/ with mv and converted to
    Parquet in a notebook (no run recorded), and that file is the "test set"."""
    src = raw(ws, name)
    train_rel, val_rel = split(ws, src, name, parts=("train", "val"))
    with ws.step("train", "train", train=train_rel, validation=val_rel) as s:
        model, best = sgd_early_stopped(name, ws.read(train_rel), ws.read(val_rel))
        s.metric("best_validation", round(float(best), 6), "validation")
        s.save(model, "models/model.pkl")
    ws.mv(val_rel, "archive/val.csv")
    frame = pd.read_csv(ws.root / "archive/val.csv").sample(frac=1, random_state=3)
    ws.write(frame, "data/holdout.parquet")
    evaluate(ws, name, "models/model.pkl", "data/holdout.parquet")
    ws.commit()


pipeline("leak/variants/val-mv-then-parquet-in-notebook-as-test/breast_cancer", {"train-read-heldout"})(
    lambda ws: val_renamed_and_parquet_in_notebook(ws, "breast_cancer"))
