"""A correct pipeline: split, fit the scaler on train only, transform each split, train, evaluate.

    python examples/clean_pipeline.py WORKDIR [--setup]

Data: scikit-learn's bundled breast cancer table (569 rows, 30 features). The audit of
the evaluate run (and of every run) finds nothing at error or above.
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    cols, features = c.breast_cancer()
    ws.save_table("data/cancer.parquet", cols, label="label")
    train_rows, test_rows = train_test_split(range(len(cols["label"])), test_size=0.25,
                                             random_state=c.SEED, stratify=cols["label"])
    train, test = c.split(ws, "data/cancer.parquet", cols, train_rows, test_rows, label="label")
    scaler = c.fit_scaler(ws, train, features)
    train_x = c.transform(ws, scaler, train, "train", "data/train_scaled.parquet", features, label="label")
    test_x = c.transform(ws, scaler, test, "test", "data/test_scaled.parquet", features, label="label")
    model = c.train(ws, train_x, features, "models/model.joblib", LogisticRegression(max_iter=1000))
    c.evaluate(ws, model, test_x, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
