"""A small recorded pipeline for the report: two models trained, both scored on one
shifted test set (test reuse, drift), recorded from a dirty tree, with a test file
whose name holds markup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import lineage
from conftest import git

#: a file name an HTML report must escape
TEST_FILE = "data/<script>x.csv"


@dataclass
class Pipeline:
    repo: object
    root: Path
    train: str
    evaluations: list[str]
    test_path: Path
    test_sid: str
    train_sid: str


def _table(path: Path, shift: float, n: int, seed: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "row_id": np.arange(n) + seed * 10_000,
        "x": rng.normal(shift, 1.0, n).round(4),
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.7, 0.2, 0.1] if shift else [0.2, 0.3, 0.5]),
        "label": rng.integers(0, 2, n),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


@pytest.fixture
def pipeline(repo, workdir) -> Pipeline:
    root = workdir
    (root / ".gitignore").write_text("data/\nmodels/\n")
    (root / "train.py").write_text("# the pipeline's code\n")
    git(root, "add", ".gitignore", "train.py")
    git(root, "commit", "-q", "-m", "pipeline")
    (root / "train.py").write_text("# the pipeline's code, edited and not committed\n")  # a dirty tree
    _table(root / "data/train.csv", 0.0, 300, 1)
    _table(root / TEST_FILE, 3.0, 120, 2)
    train_sid = lineage.snapshot(root / "data/train.csv", name="train", label_column="label", repo=repo).id
    test_sid = lineage.snapshot(root / TEST_FILE, name="test", label_column="label", repo=repo).id
    trains, evaluations = [], []
    for k, acc in ((1, 0.81), (2, 0.815)):
        model = root / f"models/m{k}.pkl"
        with lineage.run(kind="train", repo=repo, params={"C": k}) as r:
            r.input(root / "data/train.csv", role="train")
            model.parent.mkdir(exist_ok=True)
            model.write_bytes(f"model {k}".encode())
            r.output(model)
        trains.append(r.id)
        with lineage.run(kind="evaluate", repo=repo) as r:
            r.input(model, role="model")
            r.input(root / TEST_FILE, role="test")
            r.log_metric("accuracy", acc, split="test")
        evaluations.append(r.id)
    return Pipeline(repo, root, trains[-1], evaluations, root / TEST_FILE, test_sid, train_sid)
