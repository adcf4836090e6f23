"""Over its memory budget, an audit joins the training side of the exact-overlap family out of
core (DuckDB over the stored fingerprint objects): the same findings, counts and evidence as
in memory, for every rule of the family where it fires and where it must not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from audit.conftest import clean_pipeline, leaky_pipeline, rows
from audit.pipelines.conftest import ws  # noqa: F401 - the realistic pipelines' workspace
from lineage import audit
from lineage.audit.outofcore import DUCKDB, IN_MEMORY
from lineage.config import MEMORY_BUDGET_ENV, audit_memory_budget, default_memory_budget
from lineage.errors import ConfigError

FAMILY = ["exact-overlap", "label-conflict", "group-overlap", "temporal-order", "no-test-set"]


def both(repo, monkeypatch, run_ids, only=None):
    """(in-memory report, out-of-core report) of one audit: the default budget, then a budget
    of one byte; asserts which path each took and that they found the same."""
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    mem = audit.run(repo, run_ids, only=only)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1")
    ooc = audit.run(repo, run_ids, only=only)
    monkeypatch.delenv(MEMORY_BUDGET_ENV)
    assert mem.meta["engine"] == IN_MEMORY and "queries" not in mem.meta
    assert ooc.meta["engine"] == DUCKDB and ooc.meta["queries"] > 0, ooc.meta
    assert ooc.meta["memory_budget"] == 1 and ooc.meta["estimated_bytes"] == mem.meta["estimated_bytes"] > 1
    assert [f.to_dict() for f in ooc.findings] == [f.to_dict() for f in mem.findings]
    assert ooc.summary == mem.summary
    assert not list((repo.dir / "tmp").glob("audit-*"))  # the temporary folder is gone
    return mem, ooc


def _train_test(lab, train, test, **decl):
    lab.table("data/train.csv", train, name="train", **decl)
    lab.table("data/test.csv", test, name="test", **decl)
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    return lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")],
                   metrics=[("accuracy", 0.9, "test")])


def _slugs(report):
    return {f.rule for f in report.findings}


# -- each rule of the family: where it fires, where it must not --------------------------

@pytest.mark.parametrize("leak", [True, False])
def test_exact_overlap(lab, monkeypatch, leak):
    base = rows(300, seed=2)
    test = base[200:290] + (base[:10] if leak else base[290:])
    ev = _train_test(lab, base[:200], test, label_column="label")
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    found = [f for f in mem.findings if f.rule == "exact-overlap"]
    if leak:
        [f] = found
        assert f.evidence["overlap"] == 10 and f.evidence["rows"] == 100
    else:
        assert found == []


@pytest.mark.parametrize("conflict", [True, False])
def test_label_conflict(lab, monkeypatch, conflict):
    base = rows(120, seed=3)
    extra = [{**r, "label": 1 - r["label"]} for r in base[:3]] if conflict else []
    ev = _train_test(lab, base[:100], base[100:] + extra, label_column="label")
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    found = [f for f in mem.findings if f.rule == "label-conflict"]
    assert [f.evidence["conflicts"] for f in found] == ([3] if conflict else [])


@pytest.mark.parametrize("by_row", [True, False])
def test_group_overlap(lab, monkeypatch, by_row):
    import random

    rng = random.Random(4)
    data = [{"patient_id": f"p{i // 4}", "x": round(rng.random(), 6), "label": rng.randint(0, 1)}
            for i in range(200)]
    if by_row:
        rng.shuffle(data)
    ev = _train_test(lab, data[:160], data[160:], group_column="patient_id", label_column="label")
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    found = [f for f in mem.findings if f.rule == "group-overlap"]
    if by_row:
        [f] = found
        assert f.evidence["shared_groups"] > 5 and f.evidence["group_hashes"]
    else:
        assert found == []


@pytest.mark.parametrize("random_split", [True, False])
def test_temporal_order(lab, monkeypatch, random_split):
    import random

    data = [{"t": f"2024-01-{1 + i // 10:02d}T{i % 10:02d}:00:00Z", "x": i, "label": i % 2} for i in range(200)]
    if random_split:
        random.Random(5).shuffle(data)
    ev = _train_test(lab, data[:160], data[160:], time_column="t")
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    found = [f for f in mem.findings if f.rule == "temporal-order"]
    if random_split:
        [f] = found
        assert f.evidence["older_rows"] > 20 and f.evidence["newest_train"]
    else:
        assert found == []


def test_temporal_order_numeric_time(lab, monkeypatch):
    data = [{"step": float(i), "x": i * 3, "label": i % 2} for i in range(100)]
    ev = _train_test(lab, data[20:], data[:20], time_column="step")
    mem, _ = both(lab.repo, monkeypatch, [ev], ["temporal-order"])
    [f] = mem.findings
    assert f.evidence["newest_train"] == "99.0" and f.evidence["older_rows"] == 20


@pytest.mark.parametrize("inside", [True, False])
def test_no_test_set(lab, monkeypatch, inside):
    base = rows(80, seed=6)
    ev = _train_test(lab, base, base[:30] if inside else rows(30, seed=7, start=100))
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    assert ("no-test-set" in _slugs(mem)) is inside


def test_pipelines_clean_and_leaky_every_rule(lab, monkeypatch):
    ids = leaky_pipeline(lab)
    lab.commit()
    mem, _ = both(lab.repo, monkeypatch, list(ids.values()))
    assert "exact-overlap" in _slugs(mem)


def test_index_columns_and_whole_files(lab, monkeypatch):
    """Data keys left out of a pandas-style index column, and non-tabular files (one row
    each, keyed by their digest) on both sides."""
    base = rows(60, seed=8)
    lab.table("data/train/part.csv", base[:40])
    lab.write("data/train/img1.bin", "pixels one")
    lab.write("data/train/img2.bin", "pixels two")
    indexed = [{"Unnamed: 0": k, **r} for k, r in enumerate(base[40:] + base[:5])]
    lab.table("data/test/part.csv", indexed)
    lab.write("data/test/img1.bin", "pixels one")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test")])
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    [f] = [f for f in mem.findings if f.rule == "exact-overlap"]
    assert f.evidence["overlap"] == 6 and f.evidence["index_columns_left_out"]


# -- realistic pipelines (tests/audit/pipelines) -----------------------------------------

PIPELINE_NAMES = [
    "leak/test-rows-in-train/breast_cancer",
    "leak/variants/test-rows-appended-with-index-column/wine",
    "leak/group-split-by-row/wine-parquet",
    "leak/time-split-at-random/diabetes",
    "leak/hygiene/test-set-inside-training-data/digits-parquet",
    "leak/oversample-before-split/breast_cancer-transform",
    "leak/more/test-copies-label-as-float/wine",
    "clean/group-split/breast_cancer",
    "clean/walk-forward/diabetes",
    "clean/train-test-reexported/wine-shuffled",
]


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_realistic_pipelines(ws, monkeypatch, name):
    from audit.pipelines import (shapes_basic, shapes_clean, shapes_hygiene, shapes_leaks,  # noqa: F401
                                 shapes_more, shapes_variants)
    from audit.pipelines.conftest import PIPELINES

    build, expected = PIPELINES[name]
    build(ws)
    mem, _ = both(ws.repo, monkeypatch, audit.select_runs(ws.repo, all_runs=True))
    assert {f.rule for f in mem.findings if f.severity in ("error", "critical")} == set(expected)


# -- when the out-of-core path runs, and when it must not --------------------------------

def test_under_the_budget_the_audit_stays_in_memory(lab, monkeypatch):
    ids = clean_pipeline(lab)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1GB")
    report = audit.run(lab.repo, [ids["evaluate"]])
    assert report.meta["engine"] == IN_MEMORY and report.meta["memory_budget"] == 10**9
    assert report.to_dict()["meta"]["engine"] == IN_MEMORY


def test_rules_outside_the_family_plan_nothing(lab, monkeypatch):
    ids = clean_pipeline(lab)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1")
    report = audit.run(lab.repo, [ids["evaluate"]], only=["dirty-code"])
    assert report.meta == {"engine": IN_MEMORY}


def test_heldout_side_over_the_budget_is_noted(lab, monkeypatch):
    base = rows(100, seed=9)
    ev = _train_test(lab, base[:50], base[40:])
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1")
    report = audit.run(lab.repo, [ev], only=["exact-overlap"])
    assert report.meta["engine"] == DUCKDB and "held-out keys" in report.meta["note"]


def test_memory_budget_setting(repo, monkeypatch):
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    assert audit_memory_budget({}) == default_memory_budget() > 0
    assert audit_memory_budget({"audit": {"memory_budget": "512MB"}}) == 512 * 10**6
    assert audit_memory_budget({"audit": {"memory_budget": "2GiB"}}) == 2 << 30
    assert audit_memory_budget({"audit": {"memory_budget": 4096}}) == 4096
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "3kb")
    assert audit_memory_budget({"audit": {"memory_budget": 4096}}) == 3000  # the environment wins
    monkeypatch.delenv(MEMORY_BUDGET_ENV)
    for bad in ("lots", 0, -5, True, "1 PB"):
        with pytest.raises(ConfigError):
            audit_memory_budget({"audit": {"memory_budget": bad}})


def test_budget_from_the_repository_config(lab, monkeypatch):
    ids = clean_pipeline(lab)
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    lab.repo.save_config({**lab.repo.raw_config, "audit": {"memory_budget": "1KB"}})
    report = audit.run(lab.repo, [ids["evaluate"]], only=["exact-overlap"])
    assert report.meta["engine"] == DUCKDB and report.meta["memory_budget"] == 1000


def test_a_bad_budget_is_one_line_exit_2(cli, workdir, monkeypatch):
    (workdir / "data.csv").write_text("a,b\n1,2\n")
    (workdir / "test.csv").write_text("a,b\n3,4\n")
    r = cli("run", "--kind", "evaluate", "--input", "train=data.csv", "--input", "test=test.csv", "--",
            sys.executable, "-c", "pass")
    assert r.code == 0, r.stderr
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "plenty")
    r = cli("audit", "--all")
    assert r.code == 2 and MEMORY_BUDGET_ENV in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_json_output_says_which_path_ran(cli, lab, monkeypatch):
    ids = leaky_pipeline(lab)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1")
    from conftest import validate

    r = cli("audit", ids["leaky_eval"], "--format", "json", "--fail-on", "never")
    data = json.loads(r.stdout)
    validate(data, "audit.schema.json")
    assert data["meta"]["engine"] == DUCKDB and data["meta"]["queries"] > 0
    from lineage.audit.formats import report_from_dict

    assert report_from_dict(data).to_dict()["meta"] == data["meta"]  # kept through the JSON form


def test_duckdb_is_imported_only_out_of_core(lab):
    ids = clean_pipeline(lab)
    code = ("import sys\n"
            "from lineage.cli.app import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'duckdb' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code],
                       cwd=lab.root, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    code = ("import sys, lineage\nfrom lineage import audit\n"
            "repo = lineage.Repo.find('.')\n"
            f"r = audit.run(repo, [{ids['evaluate']!r}])\n"
            "print(r.meta['engine'], 'duckdb' in sys.modules)\n")
    env_mem = {k: v for k, v in os.environ.items() if k != MEMORY_BUDGET_ENV}
    p = subprocess.run([sys.executable, "-c", code], cwd=lab.root, capture_output=True, text=True, env=env_mem)
    assert p.stdout.split() == [IN_MEMORY.split()[0], "False"], p.stderr
    p = subprocess.run([sys.executable, "-c", code], cwd=lab.root, capture_output=True, text=True,
                       env={**env_mem, MEMORY_BUDGET_ENV: "1"})
    assert p.stdout.strip().endswith("True") and "duckdb" in p.stdout, p.stderr


def test_packed_fingerprint_objects(lab, monkeypatch):
    """Fingerprint objects kept in a pack (as fetched from a remote) are written out once for
    DuckDB, in the audit's temporary folder, and give the same findings."""
    from lineage.tabular.load import FingerprintColumns

    base = rows(300, seed=2)
    ev = _train_test(lab, base[:200], base[200:290] + base[:10], label_column="label")
    store = lab.repo.store
    digests = [f.record.fingerprints for f in FingerprintColumns(lab.repo, "train@latest").files]
    data = {d: store.read_bytes(d) for d in digests}
    store.remove(digests)
    with store.batch() as batch:
        batch._force_pack = True  # what gc's repacking does
        for d, b in data.items():
            batch.put_bytes(b, d, _repack=True)
    assert not any(store.is_loose(d) for d in digests) and all(store.exists(d) for d in digests)
    mem, _ = both(lab.repo, monkeypatch, [ev], FAMILY)
    [f] = [f for f in mem.findings if f.rule == "exact-overlap"]
    assert f.evidence["overlap"] == 10
