"""Leak: a time series is split at random, so the model is tested on the past it trained after.

    python examples/leak_random_time_split.py WORKDIR [--setup]

Daily readings of the bundled diabetes table's ten measurements, laid out as two years
of a slowly drifting process: the label says whether the next day's target rises. A
random split trains on days that come after test days, so the test score measures
interpolation, not forecasting. ``day`` is declared as the time column; caught by
``temporal-order`` (error). The fix: train on the past, test on what follows.
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    import datetime as dt

    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    data = load_diabetes()
    features = list(data.feature_names)
    n = len(data.target)
    rng = np.random.default_rng(c.SEED)
    trend = np.linspace(0.0, 0.05, n)  # a drift that makes the past and the future differ
    days = np.array([dt.datetime(2023, 1, 1) + dt.timedelta(days=i) for i in range(n)],
                    dtype="datetime64[us]")
    cols = {"day": days}
    for i, name in enumerate(features):
        cols[name] = np.round(data.data[:, i] + trend * (i % 3 - 1) + rng.normal(0, 0.002, n), 6)
    target = data.target + 80 * np.sin(np.arange(n) / 20)
    cols["label"] = (np.roll(target, -1) > target).astype("int64")
    declared = {"label": "label", "time": "day"}
    ws.save_table("data/readings.parquet", cols, **declared)
    # the leak: shuffle=True (the default) mixes past and future
    train_rows, test_rows = train_test_split(np.arange(n), test_size=0.25, random_state=c.SEED)
    train, test = c.split(ws, "data/readings.parquet", cols, train_rows, test_rows, **declared)
    scaler = c.fit_scaler(ws, train, features)
    train_x = c.transform(ws, scaler, train, "train", "data/train_scaled.parquet", features, **declared)
    test_x = c.transform(ws, scaler, test, "test", "data/test_scaled.parquet", features, **declared)
    model = c.train(ws, train_x, features, "models/model.joblib", LogisticRegression(max_iter=1000))
    c.evaluate(ws, model, test_x, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
