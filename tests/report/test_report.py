"""lineage report: the HTML and Markdown hand-over report, and verify --against."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

import lineage
from conftest import validate
from lineage import audit
from lineage.audit.graphmarks import _strings
from lineage.errors import UsageError
from lineage.report import render
from lineage.report.html import SECTIONS

from .conftest import TEST_FILE


class Page(HTMLParser):
    """Sections by id (their raw text), every tag seen, the graph's nodes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)
        self.sections = {m.group(1): m.group(2) for m in
                         re.finditer(r'<section id="([^"]+)">(.*?)</section>', text, re.S)}

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def nodes(self) -> dict[str, set[str]]:
        out = {}
        for tag, a in self.tags:
            if tag == "g" and "data-node" in a:
                out[a["data-node"]] = set((a.get("data-finding") or "").split())
        return out


def _integrity(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="lineage-integrity">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_html_has_every_section_escapes_and_flags_dirty(pipeline):
    text = render(pipeline.repo, pipeline.evaluations[-1][:13])
    page = Page(text)
    assert list(page.sections) == list(SECTIONS)
    # the file name with markup is shown, escaped: the only script element is the JSON one
    assert "&lt;script&gt;x.csv" in text
    assert "<script>x" not in text
    scripts = [a for tag, a in page.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "lineage-integrity"}]
    assert not re.search(r"""(src|href)=["']?https?:""", text)
    summary = page.sections["summary"]
    assert "DIRTY" in summary and pipeline.evaluations[-1] in summary and "FAIL" in summary
    assert "DIRTY" in page.sections["reproduce"]
    assert "git checkout " in page.sections["reproduce"] and "lineage pull" in page.sections["reproduce"]
    # datasets: rows, schema, declarations, where stored
    ds = page.sections["datasets"]
    assert pipeline.test_sid in ds and "colour" in ds and "label: label" in ds and "local store only" in ds
    assert "300" in ds and "120" in ds
    # findings and plots: the drift finding is drawn, train vs held-out
    findings = page.sections["findings"]
    assert "test-reuse" in findings and "distribution-shift" in findings
    assert page.sections["plots"].count('class="plot"') >= 2
    rec = _integrity(text)
    assert {s["id"] for s in rec["snapshots"]} >= {pipeline.test_sid, pipeline.train_sid}
    assert rec["log"]["heads"] == pipeline.repo.graph.heads()


def test_clean_run_says_no_drift_and_passes(pipeline):
    text = render(pipeline.repo, pipeline.train)
    page = Page(text)
    assert list(page.sections) == list(SECTIONS)
    assert "No distribution-shift finding" in page.sections["plots"]
    assert "PASS" in page.sections["summary"] or "FAIL" in page.sections["summary"]


def test_highlighted_nodes_are_the_evidence_nodes(pipeline):
    repo = pipeline.repo
    text = render(repo, pipeline.evaluations[-1])
    nodes = Page(Page(text).sections["graph"]).nodes()
    assert pipeline.evaluations[-1] in nodes and pipeline.test_sid in nodes
    report = audit.run(repo, [pipeline.evaluations[-1]])
    assert report.findings
    expected: dict[str, set[str]] = {n: set() for n in nodes}
    for f in report.findings:
        if not f.waived:
            for n in ({f.run_id} | set(_strings(f.evidence))) & set(nodes):
                expected[n].add(f.rule)
    assert nodes == expected
    assert any(nodes.values()) and not all(nodes.values())


def test_waiver_shown_and_unmarked(pipeline):
    repo = pipeline.repo
    lineage.audit.waive(repo, "test-reuse", pipeline.evaluations[-1], "second model <b>on purpose</b>")
    text = render(repo, pipeline.evaluations[-1])
    page = Page(text)
    assert "Waived by Test User" in page.sections["findings"]
    assert "second model &lt;b&gt;on purpose&lt;/b&gt;" in page.sections["findings"]
    assert all("test-reuse" not in rules for rules in Page(page.sections["graph"]).nodes().values())


def test_test_usage_matches_used_by(pipeline, cli):
    text = render(pipeline.repo, pipeline.evaluations[0])
    usage = Page(text).sections["test-usage"]
    shown = re.findall(r'<tr data-run="([^"]+)">', usage)
    res = cli("used-by", pipeline.test_sid, "--json")
    assert res.code == 0, res.stderr
    uses = sorted((u for u in res.json["uses"] if u["role"] == "test"), key=lambda u: (u["time"], u["run_id"]))
    assert shown == list(dict.fromkeys(u["run_id"] for u in uses)) == pipeline.evaluations
    assert "selection-optimism" in usage and "k=2" in usage and "n=120" in usage


def test_targets_path_and_test_set(pipeline):
    repo = pipeline.repo
    by_model = render(repo, str(pipeline.root / "models/m2.pkl"), fmt="md")
    assert pipeline.train in by_model  # the run that wrote it
    by_test = render(repo, ("test-set", str(pipeline.test_path)))
    assert _integrity(by_test)["target"] == {"kind": "test-set", "ref": str(pipeline.test_path),
                                             "run_id": pipeline.evaluations[-1]}
    assert _integrity(by_test)["test_usage"][0]["runs"] == pipeline.evaluations
    with pytest.raises(UsageError):
        render(repo, pipeline.train, fmt="pdf")
    with pytest.raises(UsageError):
        render(repo, ("model", "x"))


def test_markdown_is_short_escaped_and_carries_integrity(pipeline):
    text = render(pipeline.repo, pipeline.evaluations[-1], fmt="md")
    assert "**Audit: ❌ FAIL**" in text and "DIRTY" in text
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)  # a fence shows markup as text
    assert "<script" not in outside_code
    by_test = render(pipeline.repo, ("test-set", str(pipeline.test_path)), fmt="md")
    assert "\\<script\\>x.csv" in by_test.splitlines()[0]
    assert "| `test-reuse` |" in text
    assert len(text.splitlines()) < 60
    m = re.search(r"<!-- lineage-integrity (.*?) -->", text)
    assert json.loads(m.group(1))["target"]["run_id"] == pipeline.evaluations[-1]


def test_cli_report_files_and_stdout(pipeline, cli):
    ev = pipeline.evaluations[-1][:13]
    res = cli("report", ev, "-o", "r.html")
    assert res.code == 0, res.stderr
    assert (pipeline.root / "r.html").read_text().startswith("<!DOCTYPE html>")
    res = cli("report", ev, "-F", "md")
    assert res.code == 0 and res.stdout.startswith("## lineage report")
    res = cli("report", "--test-set", TEST_FILE, "-F", "md", "-o", "-")
    assert res.code == 0 and "lineage-integrity" in res.stdout
    for args in (("report", ev), ("report",), ("report", ev, "--test-set", TEST_FILE, "-F", "md"),
                 ("report", ev, "-F", "pdf"), ("report", "nonexistent-run", "-F", "md")):
        res = cli(*args)
        assert res.code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, args


# -- verify --against ------------------------------------------------------------------

@pytest.fixture
def reported(pipeline, cli):
    def write(fmt: str = "html") -> str:
        name = f"r.{fmt}"
        res = cli("report", pipeline.evaluations[-1], "-F", fmt, "-o", name)
        assert res.code == 0, res.stderr
        return name
    return write


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_verify_against_passes_then_ignores_unrelated(pipeline, cli, reported, fmt):
    name = reported(fmt)
    res = cli("verify", "--against", name, "--json")
    assert res.code == 0, res.stdout
    validate(res.json, "verify-against.schema.json")
    assert res.json["ok"] and res.json["unrelated_events"] == 0
    (pipeline.root / "data/other.csv").write_text("a,b\n1,2\n")
    lineage.snapshot(pipeline.root / "data/other.csv", repo=pipeline.repo)
    res = cli("verify", "--against", name)
    assert res.code == 0 and "unchanged" in res.stdout and "later unrelated event" in res.stdout


def test_verify_against_tampered_object(pipeline, cli, reported):
    import os

    name = reported()
    store = pipeline.repo.store
    digest = lineage.snapshots.show(pipeline.repo, pipeline.train_sid).files[0]["digest"]
    original = store.read_bytes(digest)
    # the object is loose or in a pack: change one byte of it where it lies
    candidates = [store.path(digest)] if store.is_loose(digest) else sorted(store.packs_dir.glob("*.pack"))
    for path in candidates:
        data = path.read_bytes()
        at = data.find(original[:64])
        if at >= 0:
            os.chmod(path, 0o644)
            with open(path, "r+b") as fh:
                fh.seek(at + 20)
                fh.write(b"X")
            break
    else:
        pytest.fail("object bytes not found in the store")
    res = cli("verify", "--against", name)
    assert res.code == 1
    assert any("altered" in line and pipeline.train_sid[:12] in line for line in res.stdout.splitlines())


def test_verify_against_new_waiver(pipeline, cli, reported):
    name = reported()
    lineage.audit.waive(pipeline.repo, "test-reuse", pipeline.evaluations[-1], "accepted")
    res = cli("verify", "--against", name, "--json")
    assert res.code == 1
    assert any(line.startswith("new waiver: test-reuse") for line in res.json["differences"])


def test_verify_against_test_scored_again(pipeline, cli, reported):
    name = reported()
    copy = pipeline.root / "data/copy_of_test.csv"
    copy.write_bytes(pipeline.test_path.read_bytes())
    with lineage.run(kind="evaluate", repo=pipeline.repo) as r:
        r.input(pipeline.root / "models/m1.pkl", role="model")
        r.input(copy, role="test")
    res = cli("verify", "--against", name)
    assert res.code == 1
    assert f"the test content was scored again: run {r.id}" in res.stdout


def test_verify_against_foreign_file(pipeline, cli, tmp_path):
    junk = tmp_path / "junk.html"
    junk.write_bytes(b"<html><body>not a report</body></html>")
    for target in (junk, tmp_path / "missing.html"):
        res = cli("verify", "--against", str(target))
        assert res.code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    bad = tmp_path / "bad.html"
    bad.write_text('<script type="application/json" id="lineage-integrity">{"format": "other"}</script>')
    assert cli("verify", "--against", str(bad)).code == 2


def test_verify_against_random_bytes(pipeline, cli, tmp_path):
    import os

    junk = tmp_path / "random.bin"
    junk.write_bytes(os.urandom(4096))
    res = cli("verify", "--against", str(junk))
    assert res.code == 2 and "Traceback" not in res.stderr


def test_test_usage_lists_readers_apart_from_scorings(pipeline):
    """A transform reading the test file as `test` is a reader, not a scoring: the
    selection-optimism figure counts the evaluations only, as the rule does."""
    repo, root = pipeline.repo, pipeline.root
    with lineage.run(kind="transform", repo=repo) as r:
        r.input(pipeline.test_path, role="test")
        (root / "data/test_scaled.csv").write_text("x\n1\n")
        r.output(root / "data/test_scaled.csv")
    text = render(repo, pipeline.evaluations[-1])
    usage = Page(text).sections["test-usage"]
    assert re.findall(r'<tr data-run="([^"]+)">', usage) == pipeline.evaluations
    assert re.findall(r'<tr data-reader="([^"]+)">', usage) == [r.id]
    assert "scored 2 time(s)" in usage and "Also read by" in usage and "k=2" in usage
    md_text = render(repo, pipeline.evaluations[-1], fmt="md")
    assert "scored 2 time(s)" in md_text and f"also read by `{r.id[:13]}` (transform)" in md_text
    # verify --against: the reader was there at report time, nothing new
    assert r.id in _integrity(text)["test_usage"][0]["runs"]


def test_summary_names_the_model_evaluated_and_the_outputs(pipeline):
    text = render(pipeline.repo, pipeline.evaluations[-1])
    summary = Page(text).sections["summary"]
    assert "<dt>model</dt><dd><code>models/m2.pkl</code>" in summary.replace(str(pipeline.root) + "/", "")
    assert "<dt>outputs</dt><dd>none written</dd>" in summary
    train = Page(render(pipeline.repo, pipeline.train)).sections["summary"]
    assert "<dt>model</dt>" not in train and "m2.pkl" in train
    md_text = render(pipeline.repo, pipeline.evaluations[-1], fmt="md")
    assert "- model: `" in md_text and "- outputs: none written" in md_text
