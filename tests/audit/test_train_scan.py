"""The training rows read in one pass (lineage.audit.scan): the same findings as the joins of
whole key columns, which run where the pass does not apply (no compiled kernels)."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

import lineage.audit.scan as scan_mod
from lineage import snapshots
from lineage.tabular import kernels

pytestmark = pytest.mark.skipif(kernels.get() is None or not hasattr(kernels.get(), "key_table"),
                                reason="no compiled kernels here: only the whole-column joins run")


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"x0": round(rng.gauss(0, 1), 6), "x1": round(rng.uniform(0, 100), 5), "x2": rng.gauss(0, 1e3),
             "k": rng.randint(0, 9), "label": rng.randint(0, 1)} for _ in range(n)]


def _write(path, rows, index: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if index:
        rows = [{"": i, **r} for i, r in enumerate(rows)]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _pipeline(lab) -> str:
    """Training rows in two snapshots (one a folder of two tables, one with pandas' index
    column, and a file that is no table); held-out rows with exact copies, near copies
    (noise below the grid), rows that crowd one near cell, and a copy of the blob."""
    rng = random.Random(3)
    train_a, train_b, fresh = _rows(300, 1), _rows(200, 2), _rows(80, 4)
    crowd = [{**train_a[0], "x2": train_a[0]["x2"] + d * 1e-9} for d in (1, 2)]  # one cell, distinct rows
    test = (train_a[10:15] + train_b[20:23]
            + [{**r, "x2": r["x2"] * (1 + 1e-12 * rng.choice((-1, 1)))} for r in train_a[50:57]]
            + [{**train_a[0], "x2": train_a[0]["x2"] + 3e-9}] + fresh)
    root = lab.root
    _write(root / "data/trainset/part1.csv", train_a + crowd, index=True)
    _write(root / "data/trainset/part2.csv", train_b[:100])
    (root / "data/trainset/blob.bin").write_bytes(b"\x00blob" * 100)
    _write(root / "data/more.csv", train_b[100:])
    _write(root / "data/testset/test.csv", test)
    (root / "data/testset/blob.bin").write_bytes(b"\x00blob" * 100)
    for rel, name in (("data/trainset", "trainset"), ("data/more.csv", "more"), ("data/testset", "testset")):
        snapshots.create(lab.repo, root / rel, name=name, label_column="label")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/trainset"), ("train", "data/more.csv")], ["models/m.pkl"])
    return lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/testset")],
                   metrics=[("accuracy", 0.9, "test")])


def _counting(monkeypatch) -> list:
    passes: list = []
    real = scan_mod.scan

    def counted(*args, **kwargs):
        out = real(*args, **kwargs)
        passes.append(out)
        return out

    monkeypatch.setattr(scan_mod, "scan", counted)
    return passes


def test_one_pass_gives_the_findings_of_whole_column_joins(lab, monkeypatch):
    ev = _pipeline(lab)
    passes = _counting(monkeypatch)
    scanned = [f.to_dict() for f in lab.audit(ev).findings]
    # one pass answered exact-overlap, no-test-set and both grids of near-duplicate
    assert len(passes) == 1 and passes[0] is not None
    assert set(passes[0].masks) == {"data", "fp_near", "fp_near_shift"}
    monkeypatch.setenv("LINEAGE_NO_JIT", "1")  # no kernels: whole key columns joined
    joined = [f.to_dict() for f in lab.audit(ev).findings]
    assert len(passes) == 1  # no pass without the kernels
    assert scanned == joined
    by_rule = {f["rule"]: f for f in scanned}
    assert by_rule["exact-overlap"]["evidence"]["overlap"] == 9  # 8 rows and the blob
    assert by_rule["exact-overlap"]["evidence"]["index_columns_left_out"]
    assert by_rule["near-duplicate"]["evidence"]["near_duplicates"] == 7  # the crowded cell is no evidence


def test_only_the_rules_near_keys_are_probed(lab, monkeypatch):
    ev = _pipeline(lab)
    passes = _counting(monkeypatch)
    found = lab.audit(ev, ["exact-overlap"]).findings
    assert [f.evidence["overlap"] for f in found] == [9]
    assert set(passes[0].masks) == {"data"}  # no near-key column read for exact-overlap alone


def test_a_training_row_without_fp_falls_back_to_the_joins(lab, monkeypatch):
    ev = _pipeline(lab)
    real = scan_mod._values

    def no_fp(col):
        values, valid = real(col)
        return values, np.zeros(len(values), dtype=bool)

    monkeypatch.setattr(scan_mod, "_values", no_fp)
    passes = _counting(monkeypatch)
    found = lab.audit(ev, ["exact-overlap"]).findings
    assert passes == [None]  # the pass gave up; the whole-column join answered
    assert [f.evidence["overlap"] for f in found] == [9]


def test_out_of_core_the_pass_probes_the_near_keys_only(lab, monkeypatch):
    from lineage.audit.outofcore import DUCKDB
    from lineage.config import MEMORY_BUDGET_ENV

    ev = _pipeline(lab)
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    in_memory = lab.audit(ev)
    passes = _counting(monkeypatch)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1")  # over the budget: the data keys join in DuckDB
    out_of_core = lab.audit(ev)
    assert out_of_core.meta["engine"] == DUCKDB
    assert len(passes) == 1 and set(passes[0].masks) == {"fp_near", "fp_near_shift"}
    assert [f.to_dict() for f in out_of_core.findings] == [f.to_dict() for f in in_memory.findings]
    assert {f.rule for f in out_of_core.findings} >= {"exact-overlap", "near-duplicate"}
