"""The reports of the clean example and of each leaky one, opened in headless Chromium:
no console error, no request, every section there, highlighted nodes = evidence nodes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lineage
from lineage import audit
from lineage.audit.graphmarks import _strings
from lineage.report import render
from lineage.report.html import SECTIONS
from report.conftest import pipeline  # noqa: F401  (the fixture: two models scored on one shifted test set)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["clean_pipeline", "leak_scale_before_split", "leak_oversample_before_split", "leak_tune_on_test",
            "leak_test_reuse", "leak_patient_overlap", "leak_random_time_split"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_report_page(example, tmp_path, open_page):
    pytest.importorskip("sklearn")
    work = tmp_path / example
    done = subprocess.run([sys.executable, str(ROOT / "examples" / f"{example}.py"), str(work), "--setup"],
                          capture_output=True, text=True, check=True)
    evaluate = [line.split("\t")[1] for line in done.stdout.splitlines() if line.startswith("evaluate\t")][-1]
    with lineage.open(work) as repo:
        html = render(repo, evaluate)
        findings = audit.run(repo, [evaluate]).findings
    page_file = tmp_path / "report.html"
    page_file.write_text(html, encoding="utf-8")

    visit = open_page(page_file.as_uri())
    assert visit.console_errors == []
    assert visit.requests == []
    page = visit.page
    ids = page.eval_on_selector_all("section[id]", "els => els.map(e => e.id)")
    assert ids == list(SECTIONS)
    for sid in ("graph", "findings", "plots", "integrity"):
        assert page.is_visible(f"section#{sid}")
    assert page.query_selector("section#graph svg") is not None
    assert page.query_selector("script#lineage-integrity") is not None

    nodes = dict(page.eval_on_selector_all(
        "section#graph [data-node]", "els => els.map(e => [e.dataset.node, e.dataset.finding || ''])"))
    marked = {n: set(f.split()) for n, f in nodes.items()}
    expected: dict[str, set[str]] = {n: set() for n in nodes}
    for f in findings:
        if not f.waived:
            for n in ({f.run_id} | set(_strings(f.evidence))) & set(nodes):
                expected[n].add(f.rule)
    assert marked == expected
    if example != "clean_pipeline":
        assert any(marked.values())
    assert visit.screenshot(f"report-{example}").stat().st_size > 0


def test_report_page_draws_the_drift_plots(pipeline, tmp_path, open_page):  # noqa: F811
    """A distribution-shift finding: the plots section has an SVG chart per drifting
    column, each with a train and a test (held-out) series."""
    pytest.importorskip("pandas")
    with lineage.open(pipeline.root) as repo:
        assert any(f.rule == "distribution-shift" for f in audit.run(repo, pipeline.evaluations).findings)
        html = render(repo, pipeline.evaluations[-1])
    page_file = tmp_path / "drift.html"
    page_file.write_text(html, encoding="utf-8")
    visit = open_page(page_file.as_uri())
    assert visit.console_errors == [] and visit.requests == []
    charts = visit.page.eval_on_selector_all(
        "section#plots svg.plot",
        "els => els.map(s => [s.querySelectorAll('.series-train').length, s.querySelectorAll('.series-heldout').length,"
        " s.getBoundingClientRect().width])")
    assert charts, "no drift chart"
    for train, held, width in charts:
        assert train > 0 and held > 0 and width > 0
    assert visit.page.is_visible("section#plots svg.plot")
    assert visit.screenshot("report-distribution-shift").stat().st_size > 0
