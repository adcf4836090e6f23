"""``lineage audit`` as text: each finding with its evidence under it, readable at 80 columns."""

from __future__ import annotations

import pytest

from audit.conftest import leaky_pipeline
from conftest import CLI
from lineage.audit import formats
from lineage.audit.engine import AuditReport
from lineage.audit.rules import Finding

RUN = "0192f3e4-1c2d-7e3f-8a9b-0c1d2e3f4a5b"
TRAIN_RUN = "0192f3e4-0000-7e3f-8a9b-0c1d2e3f4a5b"
HELD = "3fa9c1d2e4b5" + "a" * 52
TRAIN = "55bf74da3c37" + "b" * 52


@pytest.fixture
def leaky(lab):
    return leaky_pipeline(lab)


@pytest.fixture
def acli(lab, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    return CLI(lab.root, capsys)


def _finding(n_examples: int = 7, **extra) -> Finding:
    evidence = {
        "heldout": {"snapshot": HELD, "role": "test", "dataset": "test", "path": "data/test.csv"},
        "train": [{"snapshot": TRAIN, "dataset": "train", "path": "data/train.csv", "run_id": TRAIN_RUN,
                   "kind": "train"}],
        "rows": 40, "overlap": 7, "fraction": 0.175,
        "examples": [{"file": "data/test.csv", "row": i} for i in range(n_examples)],
        "cause": f"held-out rows in training data:{HELD}",
        **extra,
    }
    return Finding("exact-overlap", "error", RUN, "7 of the 40 rows (17.50%) of the test set test "
                   "(data/test.csv) also appear in the training data", evidence)


def _report(*findings: Finding) -> AuditReport:
    return AuditReport([{"run_id": RUN, "kind": "evaluate"}], list(findings), ["exact-overlap"], "error")


# -- the renderer ---------------------------------------------------------------------

def test_evidence_lines_sit_under_the_finding() -> None:
    text = formats.text(_report(_finding()), width=120)
    lines = text.splitlines()
    assert lines[0] == f"ERROR  exact-overlap  run {RUN}"
    assert "    counts: rows 40, overlap 7, fraction 17.50%" in lines
    assert "    held-out: test test (data/test.csv) snapshot 3fa9c1d2e4b5" in lines
    assert (f"    trained on: train (data/train.csv) snapshot 55bf74da3c37, by run {TRAIN_RUN} (train)"
            in lines)
    rows = next(line for line in lines if line.startswith("    rows: "))
    # at most five example rows, as file:row, and how many more there are
    assert "data/test.csv:4" in text and "data/test.csv:5" not in text
    assert "and 2 more" in text
    assert "cause" not in text  # what groups findings is not evidence for people
    assert lines[-1].startswith("FAIL: 1 error in 1 run(s)")
    assert rows


def test_verbose_shows_every_example_field_and_full_id() -> None:
    text = formats.text(_report(_finding()), width=200, verbose=True)
    assert "data/test.csv:6" in text and "more" not in text
    assert HELD in text.replace("\n      ", " ") and TRAIN in text.replace("\n      ", " ")
    assert "cause: held-out rows in training data:" in text


def test_related_findings_are_grouped_under_their_cause() -> None:
    f = _finding(related=[{"rule": "train-read-heldout", "severity": "critical",
                           "message": "run trained on rows of its own test set"}])
    text = formats.text(_report(f), width=120)
    assert "    related (critical) train-read-heldout: run trained on rows of its own test set" in text
    assert text.count(f"run {RUN}") == 1  # one cause, one finding


@pytest.mark.parametrize("width", [80, 100, 120])
def test_lines_fit_the_width_and_ids_are_never_split(width) -> None:
    long_path = "data/" + "/".join(["nested"] * 6) + "/test.csv"
    f = _finding(related=[{"rule": "x", "severity": "info", "message": "word " * 40}])
    f.evidence["heldout"]["path"] = long_path
    for verbose in (False, True):
        text = formats.text(_report(f), width=width, verbose=verbose)
        assert max(len(line) for line in text.splitlines()) <= width, text
        assert RUN in text and TRAIN_RUN in text  # whole, on one line
        if verbose:
            assert HELD in text


def test_waived_finding_says_by_whom_and_why() -> None:
    f = Finding("exact-overlap", "error", RUN, "m", {}, True,
                {"user": "Ann Auditor <ann@example.com>", "time": "2026-11-02T10:00:00Z",
                 "reason": "duplicates accepted by QA"})
    text = formats.text(AuditReport([{"run_id": RUN}], [f], ["exact-overlap"], "error"))
    assert "(waived by Ann Auditor on 2026-11-02: duplicates accepted by QA)" in text
    assert text.splitlines()[-1].startswith("PASS: no findings, 1 waived")


def test_a_report_without_findings_is_one_line() -> None:
    assert formats.text(_report()) == "PASS: no findings in 1 run(s), 1 rule(s) (fail on error)\n"


# -- through the command line --------------------------------------------------------

def test_audit_text_shows_rows_training_run_and_snapshots(acli, leaky, lab) -> None:
    r = acli("audit", leaky["leaky_eval"])
    assert r.code == 1
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, r.stdout
    start = next(i for i, line in enumerate(lines) if "exact-overlap" in line and leaky["leaky_eval"] in line)
    block = "\n".join(lines[start:lines.index("", start)])
    assert "data/test_s.csv:" in block  # example rows, file:row
    assert leaky["leaky_train"] in block  # the training run, whole
    assert "counts: " in block and "overlap 5" in block and "fraction" in block
    test_sid = acli("audit", leaky["leaky_eval"], "--json").json["findings"]
    overlap = next(f for f in test_sid if f["rule"] == "exact-overlap")
    assert overlap["evidence"]["heldout"]["snapshot"][:12] in block
    assert overlap["evidence"]["heldout"]["snapshot"] not in block  # short without --verbose


def test_audit_verbose_and_report_file(acli, leaky, tmp_path) -> None:
    r = acli("audit", leaky["leaky_eval"], "--verbose")
    assert r.code == 1
    sid = next(f for f in acli("audit", leaky["leaky_eval"], "--json").json["findings"]
               if f["rule"] == "exact-overlap")["evidence"]["heldout"]["snapshot"]
    assert sid in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    out = tmp_path / "report.txt"
    assert acli("audit", leaky["leaky_eval"], "-o", str(out)).code == 1
    assert "counts: " in out.read_text() and "FAIL" in out.read_text()


def test_clean_run_prints_pass_and_no_evidence(acli, leaky) -> None:
    r = acli("audit", leaky["evaluate"], "--fail-on", "critical")
    assert r.code == 0 and "PASS" in r.stdout.splitlines()[-1]
