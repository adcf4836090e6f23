"""Leak: hyperparameters are chosen by their score on the test set.

    python examples/leak_tune_on_test.py WORKDIR [--setup]

A ``tune`` run tries several regularisation strengths and keeps the one that scores best
on the test split; the final test score then reports the winner of a selection made on
that very test set. Caught by ``tune-read-test`` (critical). A tuning run is also a
learning run upstream of the model, so ``fit-on-heldout`` (critical) reports it too.
The fix: tune on a validation split (or cross-validation on train).
"""

from __future__ import annotations

import _common as c


def pipeline(ws: c.Workspace) -> None:
    import json

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
    grid = [0.001, 0.01, 0.1, 1.0, 10.0]
    with ws.step("tune", grid=json.dumps(grid)) as r:
        r.input(train_x, role="train")
        r.input(test_x, role="test")  # the leak: model selection looks at the test set
        tr, te = c.load_table(train_x), c.load_table(test_x)
        scores = {}
        for strength in grid:
            clf = LogisticRegression(C=strength, max_iter=1000).fit(c.matrix(tr, features), tr["label"])
            scores[strength] = float(clf.score(c.matrix(te, features), te["label"]))
            r.log_metric(f"accuracy_C{strength:g}", scores[strength], split="test")
        best = max(grid, key=lambda s: (scores[s], -s))
        r.log_param("best_C", best)
        chosen = ws.path("models/best_params.json")
        chosen.write_text(json.dumps({"C": best}) + "\n")
        r.output(chosen)
    with ws.step("train", estimator="LogisticRegression", C=best) as r:
        r.input(train_x, role="train")
        r.input(chosen, role="other")
        tr = c.load_table(train_x)
        model = LogisticRegression(C=best, max_iter=1000).fit(c.matrix(tr, features), tr["label"])
        out = c.save_model(ws, "models/model.joblib", model)
        r.output(out)
    c.evaluate(ws, out, test_x, features)


if __name__ == "__main__":
    c.main(__doc__.splitlines()[0], pipeline)
