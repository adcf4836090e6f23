"""Leak: the same test set scores one model after another, and the best is reported.

    python examples/leak_test_reuse.py WORKDIR [--setup]

Three models are trained and each gets a final scoring on the test set; the last one
reads a re-exported copy of it (CSV, rows shuffled, another name), which hides nothing
from the audit. Every scoring after the first is caught by ``test-reuse`` (error), and
reporting the best of several models scored on one test set by ``selection-optimism``
(warning: the expected optimism of that choice against the reported margin).
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    cols, features = c.breast_cancer()
    ws.save_table("data/cancer.parquet", cols, label="label")
    train_rows, test_rows = train_test_split(range(len(cols["label"])), test_size=0.25,
                                             random_state=c.SEED, stratify=cols["label"])
    train, test = c.split(ws, "data/cancer.parquet", cols, train_rows, test_rows, label="label")
    scaler = c.fit_scaler(ws, train, features)
    train_x = c.transform(ws, scaler, train, "train", "data/train_scaled.parquet", features, label="label")
    test_x = c.transform(ws, scaler, test, "test", "data/test_scaled.parquet", features, label="label")

    candidates = [
        ("logreg", LogisticRegression(max_iter=1000)),
        ("tree", DecisionTreeClassifier(max_depth=4, random_state=c.SEED)),
        ("forest", RandomForestClassifier(n_estimators=50, random_state=c.SEED)),
    ]
    for i, (name, estimator) in enumerate(candidates):
        model = c.train(ws, train_x, features, f"models/{name}.joblib", estimator)
        source = test_x
        if i == len(candidates) - 1:
            # "a fresh hold-out file": the same rows, shuffled, exported as CSV under a new name
            with ws.step("transform", purpose="re-export") as r:
                r.input(test_x, role="test")
                rows = c.load_table(test_x)
                order = np.random.default_rng(c.SEED).permutation(len(rows["label"]))
                source = ws.save_table("data/holdout_final.csv", c.take(rows, order), label="label")
                r.output(source)
        c.evaluate(ws, model, source, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
