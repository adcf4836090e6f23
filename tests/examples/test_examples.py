"""The example pipelines: each runs in a fresh git repository, and the audit of its
evaluate run finds exactly the leak it plants (and nothing at error or above in the
clean one). Expectations follow the rule catalogue of the design, not the code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LINEAGE = [sys.executable, "-m", "lineage"]
SEVERITIES = ("info", "warning", "error", "critical")

#: example -> (rules that must fire at error or above, with their severity;
#:             rules also acceptable at error or above, because the same mistake meets
#:             their definition too; warnings that must be reported)
CASES = {
    "clean_pipeline": ({}, {}, set()),
    "leak_scale_before_split": ({"fit-on-heldout": "critical"}, {}, set()),
    "leak_oversample_before_split": (
        {"exact-overlap": "error"},
        # the scaler and the model learned from copies of test rows
        {"fit-on-heldout": "critical", "train-read-heldout": "critical"},
        set(),
    ),
    "leak_tune_on_test": (
        {"tune-read-test": "critical"},
        # a tuning run is a learning run upstream of the model
        {"fit-on-heldout": "critical"},
        set(),
    ),
    "leak_test_reuse": ({"test-reuse": "error"}, {}, {"selection-optimism"}),
    "leak_patient_overlap": ({"group-overlap": "error"}, {}, set()),
    "leak_random_time_split": ({"temporal-order": "error"}, {}, set()),
}


def run_example(name: str, workdir: Path) -> list[tuple[str, str]]:
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), str(workdir), "--setup"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = [tuple(line.split("\t")) for line in proc.stdout.splitlines() if "\t" in line]
    assert runs and runs[-1][0] == "evaluate", proc.stdout
    return runs


def audit(workdir: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([*LINEAGE, "audit", *args, "--format", "json"], cwd=workdir,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def at_least(findings: list[dict], level: str) -> list[dict]:
    floor = SEVERITIES.index(level)
    return [f for f in findings if SEVERITIES.index(f["severity"]) >= floor and not f.get("waived")]


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_audit_finds_exactly_its_leak(name: str, tmp_path: Path) -> None:
    required, acceptable, warnings = CASES[name]
    runs = run_example(name, tmp_path / "work")
    kinds = [kind for kind, _ in runs]
    for kind in ("split", "fit", "transform", "train", "evaluate"):
        assert kind in kinds, f"{name} records no {kind} run"
    # every final scoring the example made (a re-scoring example makes several)
    evaluations = [run_id for kind, run_id in runs if kind == "evaluate"]
    code, report = audit(tmp_path / "work", *evaluations)
    serious = at_least(report["findings"], "error")
    found = {(f["rule"], f["severity"]) for f in serious}
    summary = [(f["rule"], f["severity"], f["message"]) for f in serious]
    if not required:
        assert serious == [], summary
        assert code == 0
        # the whole history of a correct pipeline, not only its evaluate run, is clean
        code, report = audit(tmp_path / "work", "--all")
        assert len(report["runs"]) == len(runs)
        assert at_least(report["findings"], "error") == []
        assert code == 0
        return
    for rule, severity in required.items():
        assert (rule, severity) in found, f"{name}: {rule} ({severity}) not reported: {summary}"
        # the finding names a run of this example and carries its evidence
        f = next(f for f in serious if f["rule"] == rule)
        assert f["run_id"] in evaluations and f["evidence"], f
    unexpected = found - set(required.items()) - set(acceptable.items())
    assert not unexpected, f"{name}: unexpected findings {sorted(unexpected)}"
    reported = {f["rule"] for f in report["findings"]}
    assert warnings <= reported, f"{name}: missing {warnings - reported}"
    assert code == 1, "findings at error or above must fail the audit"
    # what a CI job sees: exit 1 and the rule's slug in the text report
    proc = subprocess.run([*LINEAGE, "audit", *evaluations], cwd=tmp_path / "work",
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    assert proc.returncode == 1, proc.stderr
    for rule in required:
        assert rule in proc.stdout


def test_shell_pipeline_with_the_run_wrapper_is_clean(tmp_path: Path) -> None:
    """clean_pipeline.sh records the same steps through `lineage run ... -- CMD`."""
    work = tmp_path / "work"
    env = {**os.environ, "PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", str(EXAMPLES / "clean_pipeline.sh"), str(work), "--setup"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    runs = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [kind for kind, _ in runs] == ["split", "fit", "transform", "transform", "train", "evaluate"]
    show = subprocess.run([*LINEAGE, "show", runs[-1][1], "--json"], cwd=work, capture_output=True,
                          text=True, timeout=120)
    record = json.loads(show.stdout)
    assert {(m["name"], m["split"]) for m in record["metrics"]} == {("accuracy", "test"), ("roc_auc", "test")}
    assert {i["role"] for i in record["inputs"]} == {"model", "test"}
    code, report = audit(work, "--all")
    assert at_least(report["findings"], "error") == [] and code == 0


def test_example_without_workspace_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "clean_pipeline.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "--setup" in proc.stderr and "Traceback" not in proc.stderr
