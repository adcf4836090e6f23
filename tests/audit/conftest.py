"""A small lab for rule tests: write tables, snapshot them with declarations, record runs."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

import lineage
from conftest import git
from lineage import audit, snapshots


class Lab:
    def __init__(self, repo):
        self.repo = repo
        self.root = repo.root

    def table(self, rel: str, rows: list[dict], *, name: str | None = None, **decl) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        if name or decl:
            snapshots.create(self.repo, path, name=name, **decl)
        return path

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def run(self, kind: str, inputs=(), outputs=(), metrics=(), run_id: str | None = None) -> str:
        with lineage.run(kind=kind, id=run_id, repo=self.repo) as r:
            for role, path in inputs:
                r.input(self.root / path, role=role)
            for name, value, split in metrics:
                r.log_metric(name, value, split=split)
            for path in outputs:
                r.output(self.root / path)
        return r.id

    def commit(self) -> None:
        git(self.root, "add", "-A", ".", ":!.lineage")
        git(self.root, "commit", "-q", "--allow-empty", "-m", "work")

    def audit(self, run_id: str, rules: list[str] | None = None):
        return audit.run(self.repo, [run_id], only=rules)

    def slugs(self, run_id: str, rules: list[str] | None = None, *, at_least: str = "info") -> set[str]:
        from lineage.audit.rules import Severity

        floor = Severity[at_least]
        return {f.rule for f in self.audit(run_id, rules).findings if f.level >= floor}


def rows(n: int, seed: int, start: int = 0, *, shift: float = 0.0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        a = round(rng.gauss(shift, 1), 6)
        b = round(rng.gauss(5 + shift, 2), 6)
        colour = rng.choice(["red", "green", "blue"])
        out.append({"id": i, "a": a, "b": b, "colour": colour, "label": int(a + 0.3 * b > 1.5)})
    return out


@pytest.fixture
def lab(repo) -> Lab:
    (repo.root / ".gitignore").write_text("data/\nmodels/\n")
    git(repo.root, "add", ".gitignore")
    git(repo.root, "commit", "-q", "-m", "ignore data")
    return Lab(repo)


def clean_pipeline(lab: Lab, *, full=None, decl=None) -> dict[str, str]:
    """split -> fit on train -> transform -> train -> evaluate, all correct."""
    full = full or rows(300, seed=1)
    lab.table("data/full.csv", full, name="full", **(decl or {"label_column": "label"}))
    train, val, test = full[:200], full[200:250], full[250:]
    ids = {}
    lab.table("data/train.csv", train)
    lab.table("data/val.csv", val)
    lab.table("data/test.csv", test)
    ids["split"] = lab.run("split", [("other", "data/full.csv")],
                           ["data/train.csv", "data/val.csv", "data/test.csv"])
    lab.write("models/scaler.json", '{"mean": 0.1}')
    ids["fit"] = lab.run("fit", [("train", "data/train.csv")], ["models/scaler.json"])
    scaled = [{**r, "a": round(r["a"] - 0.1, 6)} for r in full]
    lab.table("data/train_s.csv", scaled[:200])
    lab.table("data/val_s.csv", scaled[200:250])
    lab.table("data/test_s.csv", scaled[250:])
    ids["transform"] = lab.run("transform", [("model", "models/scaler.json"), ("other", "data/train.csv"),
                                             ("other", "data/val.csv"), ("other", "data/test.csv")],
                               ["data/train_s.csv", "data/val_s.csv", "data/test_s.csv"])
    lab.write("models/model.pkl", "weights v1")
    ids["train"] = lab.run("train", [("train", "data/train_s.csv"), ("validation", "data/val_s.csv")],
                           ["models/model.pkl"], [("accuracy", 0.86, "validation")])
    ids["evaluate"] = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                              metrics=[("accuracy", 0.84, "test")])
    return ids


def leaky_pipeline(lab) -> dict[str, str]:
    """A clean pipeline, then a second model trained with 5 test rows copied into train."""
    ids = clean_pipeline(lab)
    test_rows = [{**r, "a": round(r["a"] - 0.1, 6)} for r in rows(300, seed=1)[250:]]
    train_rows = [{**r, "a": round(r["a"] - 0.1, 6)} for r in rows(300, seed=1)[:200]]
    lab.table("data/train_leak.csv", train_rows + test_rows[:5])
    lab.write("models/leaky.pkl", "leaky")
    ids["leaky_train"] = lab.run("train", [("train", "data/train_leak.csv")], ["models/leaky.pkl"])
    ids["leaky_eval"] = lab.run("evaluate", [("model", "models/leaky.pkl"), ("test", "data/test_s.csv")],
                                metrics=[("accuracy", 0.95, "test")])
    return ids
