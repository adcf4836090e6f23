"""Leak: patients with several scans are split by row, so the same patients sit in train and test.

    python examples/leak_patient_overlap.py WORKDIR [--setup]

Each patient of the bundled breast cancer table gets two to four scans (measurements
with a little noise, one diagnosis per patient). A row-level split puts scans of one
patient on both sides, and the model recognises the patient rather than the disease.
``patient_id`` is declared as the group column; caught by ``group-overlap`` (error).
The fix: split by patient (``GroupShuffleSplit``).
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    base, features = c.breast_cancer()
    rng = np.random.default_rng(c.SEED)
    scans = rng.integers(2, 5, size=len(base["label"]))
    rows = np.repeat(np.arange(len(scans)), scans)
    cols = {"patient_id": np.array([f"P{i:04d}" for i in rows])}
    for name in features:
        values = base[name][rows]
        cols[name] = np.round(values * rng.normal(1.0, 0.02, size=len(rows)), 6)
    cols["label"] = base["label"][rows]
    declared = {"label": "label", "group": "patient_id"}
    ws.save_table("data/scans.parquet", cols, **declared)
    # the leak: rows are split, patients are not
    train_rows, test_rows = train_test_split(np.arange(len(rows)), test_size=0.25,
                                             random_state=c.SEED, stratify=cols["label"])
    train, test = c.split(ws, "data/scans.parquet", cols, train_rows, test_rows, **declared)
    scaler = c.fit_scaler(ws, train, features)
    train_x = c.transform(ws, scaler, train, "train", "data/train_scaled.parquet", features, **declared)
    test_x = c.transform(ws, scaler, test, "test", "data/test_scaled.parquet", features, **declared)
    model = c.train(ws, train_x, features, "models/model.joblib", LogisticRegression(max_iter=1000))
    c.evaluate(ws, model, test_x, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
