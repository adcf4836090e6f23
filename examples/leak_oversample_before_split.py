"""Leak: the minority class is oversampled before the split.

    python examples/leak_oversample_before_split.py WORKDIR [--setup]

Random oversampling copies minority rows until the classes balance; done before the
split, copies of one row land in train and in test, and the model is scored on rows it
was trained on. Caught by ``exact-overlap`` (error: test rows whose features+label
fingerprint is in train) and ``fit-on-heldout`` (critical: the scaler and the model
were fitted on rows of the test set).
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    cols, features = c.breast_cancer()
    raw = ws.save_table("data/cancer.parquet", cols, label="label")
    with ws.step("transform", method="random-oversampling", seed=c.SEED) as r:
        r.input(raw, role="other")
        y = cols["label"]
        counts = np.bincount(y)
        minority = int(np.argmin(counts))
        rng = np.random.default_rng(c.SEED)
        extra = rng.choice(np.nonzero(y == minority)[0], counts.max() - counts.min(), replace=True)
        balanced = c.take(cols, np.concatenate([np.arange(len(y)), extra]))
        r.output(ws.save_table("data/cancer_balanced.parquet", balanced, label="label"))
    n = len(balanced["label"])
    train_rows, test_rows = train_test_split(np.arange(n), test_size=0.25, random_state=c.SEED,
                                             stratify=balanced["label"])
    train, test = c.split(ws, "data/cancer_balanced.parquet", balanced, train_rows, test_rows,
                          label="label")
    scaler = c.fit_scaler(ws, train, features)
    train_x = c.transform(ws, scaler, train, "train", "data/train_scaled.parquet", features, label="label")
    test_x = c.transform(ws, scaler, test, "test", "data/test_scaled.parquet", features, label="label")
    model = c.train(ws, train_x, features, "models/model.joblib", LogisticRegression(max_iter=1000))
    c.evaluate(ws, model, test_x, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
