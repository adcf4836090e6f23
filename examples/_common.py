"""Shared plumbing of the example pipelines: the workspace, tables as files, recorded steps.

Every example script takes the working directory as its argument (a git repository
where ``lineage init`` was run, or any folder with ``--setup``), writes its tables under
``data/`` and its fitted objects under ``models/``, records each step as a lineage run,
and prints one ``KIND<TAB>RUN_ID`` line per run, the evaluate run last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lineage

#: Seed of every random choice, so that each example records the same rows every time.
SEED = 7


class Workspace:
    """A working directory with an open lineage repository and the runs recorded so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = lineage.open(root)
        self.recorded: list[tuple[str, str]] = []

    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @contextmanager
    def step(self, kind: str, **params: Any) -> Iterator[lineage.runs.Run]:
        """Record one pipeline step as a run of ``kind``; its ID is kept for the summary."""
        with lineage.run(kind=kind, params=params or None, repo=self.repo) as r:
            yield r
        self.recorded.append((kind, r.id))

    def save_table(self, rel: str, columns: dict[str, Any], *, label: str | None = None,
                   group: str | None = None, time: str | None = None) -> Path:
        """Write ``columns`` (name -> array) as Parquet (or CSV, by suffix) and snapshot it
        under its file stem, declaring the label, group and time columns."""
        import pyarrow as pa

        path = self.path(rel)
        table = pa.table({k: pa.array(v) for k, v in columns.items()})
        if path.suffix == ".csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, path)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        lineage.snapshot(path, name=path.stem, label_column=label, group_column=group,
                         time_column=time, repo=self.repo)
        return path

    def close(self) -> None:
        self.repo.close()

    def report(self) -> None:
        """Print ``KIND<TAB>RUN_ID`` per recorded run, the (last) evaluate run last."""
        evaluate = [x for x in self.recorded if x[0] == "evaluate"][-1:]
        for kind, run_id in [x for x in self.recorded if x not in evaluate] + evaluate:
            print(f"{kind}\t{run_id}")


def load_table(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Columns of a Parquet or CSV table as numpy arrays."""
    if str(path).endswith(".csv"):
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(path)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def matrix(columns: dict[str, Any], names: list[str]):
    import numpy as np

    return np.column_stack([np.asarray(columns[n], dtype=float) for n in names])


def columns_of(x, names: list[str], **extra: Any) -> dict[str, Any]:
    """Feature matrix ``x`` back to named columns, plus ``extra`` (label, ids, times)."""
    out: dict[str, Any] = {n: x[:, i] for i, n in enumerate(names)}
    out.update(extra)
    return out


def save_model(ws: Workspace, rel: str, obj: Any) -> Path:
    import joblib

    path = ws.path(rel)
    joblib.dump(obj, path)
    return path


def load_model(path: str | os.PathLike[str]) -> Any:
    import joblib

    return joblib.load(path)


def breast_cancer() -> tuple[dict[str, Any], list[str]]:
    """scikit-learn's bundled breast cancer table as columns (snake_case names) + ``label``."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    cols: dict[str, Any] = {n: data.data[:, i] for i, n in enumerate(names)}
    cols["label"] = data.target.astype("int64")
    return cols, names


def take(columns: dict[str, Any], rows) -> dict[str, Any]:
    return {k: v[rows] for k, v in columns.items()}


# -- the usual steps, shared by the examples ------------------------------------------

def split(ws: Workspace, source: str, columns: dict[str, Any], train_rows, test_rows,
          **declared: str | None) -> tuple[Path, Path]:
    """A ``split`` run: ``source`` in, ``data/train.parquet`` and ``data/test.parquet`` out."""
    with ws.step("split", seed=SEED, test_rows=len(test_rows)) as r:
        r.input(ws.root / source, role="other")
        train = ws.save_table("data/train.parquet", take(columns, train_rows), **declared)
        test = ws.save_table("data/test.parquet", take(columns, test_rows), **declared)
        r.output(train)
        r.output(test)
    return train, test


def fit_scaler(ws: Workspace, source: Path, features: list[str]) -> Path:
    """A ``fit`` run: a StandardScaler learns means and deviations from ``source``."""
    from sklearn.preprocessing import StandardScaler

    with ws.step("fit", estimator="StandardScaler") as r:
        r.input(source, role="train")
        scaler = StandardScaler().fit(matrix(load_table(source), features))
        out = save_model(ws, "models/scaler.joblib", scaler)
        r.output(out)
    return out


def transform(ws: Workspace, scaler: Path, source: Path, role: str, dest: str,
              features: list[str], **declared: str | None) -> Path:
    """A ``transform`` run: apply the fitted scaler to one split (other columns pass through)."""
    with ws.step("transform") as r:
        r.input(scaler, role="model")
        r.input(source, role=role)
        cols = load_table(source)
        x = load_model(scaler).transform(matrix(cols, features))
        rest = {k: v for k, v in cols.items() if k not in features}
        out = ws.save_table(dest, columns_of(x, features, **rest), **declared)
        r.output(out)
    return out


def train(ws: Workspace, source: Path, features: list[str], dest: str, estimator: Any,
          label: str = "label", **params: Any) -> Path:
    """A ``train`` run: fit ``estimator`` on ``source``; the model is saved with joblib."""
    with ws.step("train", estimator=type(estimator).__name__, **params) as r:
        r.input(source, role="train")
        cols = load_table(source)
        model = estimator.fit(matrix(cols, features), cols[label])
        r.log_metric("accuracy", float(model.score(matrix(cols, features), cols[label])), split="train")
        out = save_model(ws, dest, model)
        r.output(out)
    return out


def evaluate(ws: Workspace, model: Path, source: Path, features: list[str],
             label: str = "label") -> dict[str, float]:
    """An ``evaluate`` run: the final scoring of a model on the test set."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    with ws.step("evaluate") as r:
        r.input(model, role="model")
        r.input(source, role="test")
        cols = load_table(source)
        clf = load_model(model)
        x, y = matrix(cols, features), cols[label]
        scores = {"accuracy": float(accuracy_score(y, clf.predict(x))),
                  "roc_auc": float(roc_auc_score(y, clf.predict_proba(x)[:, 1]))}
        for name, value in scores.items():
            r.log_metric(name, value, split="test")
    return scores


def setup(root: Path) -> None:
    """A fresh git repository with ``lineage init`` done and one commit."""
    root.mkdir(parents=True, exist_ok=True)
    git = ["git", "-C", str(root)]
    if not (root / ".git").exists():
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "config", "user.name", "Example User"], check=True)
        subprocess.run([*git, "config", "user.email", "example@example.com"], check=True)
    lineage.init(root).close()
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("data/\nmodels/\n")
    subprocess.run([*git, "add", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "example project"], check=True)


def main(description: str, pipeline) -> None:
    """Parse ``WORKDIR [--setup]``, run ``pipeline(workspace)`` there, print the run IDs."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("workdir", help="working directory (a git repository with 'lineage init' done)")
    ap.add_argument("--setup", action="store_true",
                    help="create the git repository and run 'lineage init' there first")
    args = ap.parse_args()
    root = Path(args.workdir).resolve()
    if args.setup:
        setup(root)
    os.chdir(root)
    try:
        ws = Workspace(root)
    except lineage.LineageError as exc:
        sys.exit(f"error: {exc} (use --setup to create the workspace)")
    try:
        pipeline(ws)
    finally:
        ws.close()
    ws.report()
