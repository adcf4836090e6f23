"""The steps of the clean pipeline as plain commands, for ``lineage run`` to wrap.

    python examples/pipeline_steps.py prepare data/cancer.csv
    python examples/pipeline_steps.py split data/cancer.csv data/train.csv data/test.csv
    python examples/pipeline_steps.py fit data/train.csv models/scaler.joblib
    python examples/pipeline_steps.py transform models/scaler.joblib data/train.csv data/train_scaled.csv
    python examples/pipeline_steps.py train data/train_scaled.csv models/model.joblib
    python examples/pipeline_steps.py evaluate models/model.joblib data/test_scaled.csv

Each command reads and writes files only; ``lineage run`` records its inputs (with
roles) and outputs. ``evaluate`` logs its metrics with ``lineage.run``, which joins the
run of the enclosing ``lineage run`` through ``LINEAGE_RUN_ID``. See clean_pipeline.sh.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _common as c

LABEL = "label"


def write(path: str, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(pa.table({k: pa.array(v) for k, v in columns.items()}), path)


def features_of(columns: dict) -> list[str]:
    return [k for k in columns if k != LABEL]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["prepare", "split", "fit", "transform", "train", "evaluate"])
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    p = args.paths
    if args.step == "prepare":
        cols, _ = c.breast_cancer()
        write(p[0], cols)
    elif args.step == "split":
        from sklearn.model_selection import train_test_split

        cols = c.load_table(p[0])
        tr, te = train_test_split(range(len(cols[LABEL])), test_size=0.25, random_state=c.SEED,
                                  stratify=cols[LABEL])
        write(p[1], c.take(cols, tr))
        write(p[2], c.take(cols, te))
    elif args.step == "fit":
        from sklearn.preprocessing import StandardScaler

        cols = c.load_table(p[0])
        scaler = StandardScaler().fit(c.matrix(cols, features_of(cols)))
        Path(p[1]).parent.mkdir(parents=True, exist_ok=True)
        __import__("joblib").dump(scaler, p[1])
    elif args.step == "transform":
        cols = c.load_table(p[1])
        names = features_of(cols)
        x = c.load_model(p[0]).transform(c.matrix(cols, names))
        write(p[2], c.columns_of(x, names, **{LABEL: cols[LABEL]}))
    elif args.step == "train":
        from sklearn.linear_model import LogisticRegression

        cols = c.load_table(p[0])
        model = LogisticRegression(max_iter=1000).fit(c.matrix(cols, features_of(cols)), cols[LABEL])
        Path(p[1]).parent.mkdir(parents=True, exist_ok=True)
        __import__("joblib").dump(model, p[1])
    else:
        import lineage
        from sklearn.metrics import accuracy_score, roc_auc_score

        cols = c.load_table(p[1])
        model = c.load_model(p[0])
        x, y = c.matrix(cols, features_of(cols)), cols[LABEL]
        scores = {"accuracy": accuracy_score(y, model.predict(x)),
                  "roc_auc": roc_auc_score(y, model.predict_proba(x)[:, 1])}
        with lineage.run(kind="evaluate") as r:  # joins the run `lineage run` started
            for name, value in scores.items():
                r.log_metric(name, float(value), split="test")
        print(" ".join(f"{k}={v:.4f}" for k, v in scores.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
