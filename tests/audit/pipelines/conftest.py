"""Realistic pipelines: scikit-learn's bundled datasets, real pandas and scikit-learn steps,
recorded through the Python API the way a data scientist's scripts record them.

Each step is a run: it opens, reads its inputs (recorded with their roles), does the real
work, writes its outputs (recorded as it writes them) and logs its metrics. Files are
written as a data scientist writes them: CSV or Parquet by suffix, with pandas; models with
pickle; parameters as JSON. ``Workspace.errors`` gives the exact set of rules that fire at
error or above, which each pipeline asserts.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import lineage
from conftest import git
from lineage import audit, snapshots

#: the datasets scikit-learn ships with the package (nothing is downloaded)
DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "iris")
#: the regression one: its target is continuous
REGRESSION = ("diabetes",)


#: every pipeline of the suite: name -> (build, the exact rules expected at error or above)
PIPELINES: dict[str, tuple[Callable[[Workspace], Any], frozenset[str]]] = {}


#: pipelines the audit gets wrong today: name -> what is missing. They run in the suite as
#: strict expected failures (a fix turns them into a failure to remove the entry) and count
#: in the precision and recall of docs/audit.md.
GAPS: dict[str, str] = {}


def pipeline(name: str, expect: set[str] | frozenset[str] = frozenset(), *, gap: str | None = None):
    """Register ``build(ws)`` as a pipeline of the suite; ``expect`` is the exact set of rules
    that must fire at error or above over all its runs (empty for a clean pipeline);
    ``gap`` says why the audit does not get it right yet."""
    def register(build: Callable[[Workspace], Any]) -> Callable[[Workspace], Any]:
        if name in PIPELINES:
            raise ValueError(f"pipeline {name!r} registered twice")
        PIPELINES[name] = (build, frozenset(expect))
        if gap:
            GAPS[name] = gap
        return build
    return register


def load(name: str):
    """The bundled dataset as one DataFrame, its label in ``target``."""
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame.copy()
    frame.columns = [str(c).replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    return frame


def estimator(name: str, **params):
    """A quick model fitting the dataset's task."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if name in REGRESSION:
        return Ridge(**{k: v for k, v in params.items() if k == "alpha"})
    return LogisticRegression(max_iter=2000, **{k: v for k, v in params.items() if k == "C"})


def score(name: str, model, X, y) -> tuple[str, float]:
    """(metric name, value): accuracy for classifiers, R² for the regression."""
    value = float(model.score(X, y))
    return ("r2" if name in REGRESSION else "accuracy"), round(value, 6)


class Step:
    """One run in progress: write outputs and log metrics through it."""

    def __init__(self, ws: Workspace, run: Any) -> None:
        self.ws = ws
        self.run = run

    @property
    def id(self) -> str:
        return self.run.id

    def save(self, obj: Any, rel: str) -> Path:
        """Write ``obj`` to ``rel`` (DataFrame by suffix, dict as JSON, else pickle) and
        record it as an output."""
        path = self.ws.write(obj, rel)
        self.run.output(path)
        return path

    def metric(self, name: str, value: float, split: str | None) -> None:
        self.run.log_metric(name, value, split=split)


class Workspace:
    def __init__(self, repo: Any) -> None:
        self.repo = repo
        self.root: Path = repo.root
        self.runs: dict[str, str] = {}

    # -- files ------------------------------------------------------------------------
    def write(self, obj: Any, rel: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(obj, "to_csv"):
            if path.suffix == ".parquet":
                obj.to_parquet(path, index=False)
            elif path.suffix == ".tsv":
                obj.to_csv(path, index=False, sep="\t")
            else:
                obj.to_csv(path, index=False)
        elif isinstance(obj, dict):
            path.write_text(json.dumps(obj, sort_keys=True))
        else:
            path.write_bytes(pickle.dumps(obj))
        return path

    def read(self, rel: str):
        import pandas as pd

        path = self.root / rel
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".tsv":
            return pd.read_csv(path, sep="\t")
        if path.suffix == ".json":
            return json.loads(path.read_text())
        if path.suffix in (".csv",):
            return pd.read_csv(path)
        return pickle.loads(path.read_bytes())

    def mv(self, src: str, dst: str) -> None:
        """A teammate's ``mv``: the same bytes under a new name."""
        target = self.root / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        (self.root / src).rename(target)

    def snapshot(self, rel: str, **declared: Any) -> str:
        return snapshots.create(self.repo, self.root / rel, **declared).id

    # -- runs -------------------------------------------------------------------------
    @contextmanager
    def step(self, kind: str, name: str | None = None, **roles: Any) -> Iterator[Step]:
        """A run of ``kind``; keyword arguments name its inputs by role
        (``train="data/train.csv"``, ``validation=[...]``, ``model=...``, ``other=...``)."""
        with lineage.run(kind=kind, repo=self.repo) as run:
            for role, paths in roles.items():
                for rel in [paths] if isinstance(paths, str) else paths:
                    run.input(self.root / rel, role=role)
            yield Step(self, run)
        if name:
            self.runs[name] = run.id

    def commit(self, message: str = "pipeline") -> None:
        git(self.root, "add", "-A", ".", ":!.lineage")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)

    # -- the audit --------------------------------------------------------------------
    def report(self, run_ids: list[str] | None = None):
        ids = run_ids if run_ids is not None else audit.select_runs(self.repo, all_runs=True)
        return audit.run(self.repo, ids)

    def errors(self, run_ids: list[str] | None = None) -> set[str]:
        """Rules with a finding at error or above, over ``run_ids`` (default: every run)."""
        return {f.rule for f in self.report(run_ids).findings if f.severity in ("error", "critical")}

    def describe(self) -> str:
        """The findings at error or above, one per line, for an assertion's message."""
        return "\n".join(f"{f.severity} {f.rule} {f.run_id[:13]}: {f.message}"
                         for f in self.report().findings if f.severity in ("error", "critical"))

    def findings(self, rule: str, run_ids: list[str] | None = None) -> list[Any]:
        return [f for f in self.report(run_ids).findings if f.rule == rule]


@pytest.fixture
def ws(repo) -> Workspace:
    (repo.root / ".gitignore").write_text("data/\nmodels/\n")
    (repo.root / "pipeline.py").write_text("# the pipeline's code lives in the test\n")
    git(repo.root, "add", ".gitignore", "pipeline.py")
    git(repo.root, "commit", "-q", "-m", "pipeline code")
    return Workspace(repo)
