"""Leak: the scaler is fitted on the whole table, before the split.

    python examples/leak_scale_before_split.py WORKDIR [--setup]

The classic ``StandardScaler().fit(X)`` followed by ``train_test_split``: the means and
deviations the model depends on were computed with the test rows in them, so the test
score is no longer that of unseen data. Caught by ``fit-on-heldout`` (critical): the
``fit`` run upstream of the model read rows that later make up the test set.
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    cols, features = c.breast_cancer()
    full = ws.save_table("data/cancer.parquet", cols, label="label")
    scaler = c.fit_scaler(ws, full, features)  # the leak: every row, test rows included
    train_rows, test_rows = train_test_split(range(len(cols["label"])), test_size=0.25,
                                             random_state=c.SEED, stratify=cols["label"])
    train, test = c.split(ws, "data/cancer.parquet", cols, train_rows, test_rows, label="label")
    train_x = c.transform(ws, scaler, train, "train", "data/train_scaled.parquet", features, label="label")
    test_x = c.transform(ws, scaler, test, "test", "data/test_scaled.parquet", features, label="label")
    model = c.train(ws, train_x, features, "models/model.joblib", LogisticRegression(max_iter=1000))
    c.evaluate(ws, model, test_x, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
