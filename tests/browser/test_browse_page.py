"""``lineage browse`` opened in headless Chromium: pages, a canned query, writes refused,
run rows linked to their reports."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import lineage
from lineage.repo import Repo

pytestmark = pytest.mark.browser

TEST_ROWS = "x,y\n4,0\n5,1\n6,0\n7,1\n"
SHUFFLED = "x,y\n7,1\n6,0\n4,0\n5,1\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _has_report() -> bool:
    spec = importlib.util.find_spec("lineage.report")
    return spec is not None and hasattr(importlib.import_module("lineage.report"), "render")


@pytest.fixture
def scored(workdir: Path) -> dict[str, object]:
    """A model trained once and scored on one test set three times: the file itself, a
    renamed copy and a shuffled re-export; a tuning run reads the copy as validation."""
    files = {"data/train/a.csv": "x,y\n1,0\n2,1\n3,0\n", "data/test/t.csv": TEST_ROWS,
             "data/holdout/renamed.csv": TEST_ROWS, "data/shuf/s.csv": SHUFFLED}
    for rel, text in files.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text)
    evaluations = []
    with Repo.find(workdir) as repo:
        with lineage.run(kind="train", repo=repo) as run:
            run.input(workdir / "data/train", role="train")
            (workdir / "models").mkdir()
            (workdir / "models/m.txt").write_text("weights")
            run.output(workdir / "models")
        train = run.id
        for test in ("data/test", "data/holdout", "data/shuf"):
            with lineage.run(kind="evaluate", repo=repo) as run:
                run.input(workdir / "models", role="model")
                run.input(workdir / test, role="test")
                run.log_metric("accuracy", 0.75, split="test")
            evaluations.append(run.id)
        with lineage.run(kind="tune", repo=repo) as run:
            run.input(workdir / "data/holdout", role="validation")
        tune = run.id
    return {"train": train, "evaluations": evaluations, "tune": tune}


@pytest.fixture
def served(workdir: Path, scored: dict[str, object]) -> Iterator[str]:
    """``lineage browse`` on a free loopback port; its base URL."""
    port = _free_port()
    log = workdir.parent / f"browse-{port}.log"  # a file, not a pipe: nothing can hold it open
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lineage", "browse", "--port", str(port), "--no-open"],
                                cwd=workdir, stdout=out, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while _poll(base) != 200:
            if proc.poll() is not None:
                raise AssertionError(f"lineage browse exited {proc.returncode}: {log.read_text()}")
            time.sleep(0.2)  # waiting for start-up, not timing it
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()  # Datasette dies with it (PR_SET_PDEATHSIG)
                proc.wait()


def _poll(base: str) -> int:
    try:
        return _status(base + "/-/versions.json")
    except (urllib.error.URLError, ConnectionError, OSError):
        return 0


def _used_as_test(cli) -> tuple[str, set[str]]:
    used = cli("used-by", "data/test", "--json").json
    return used["snapshot_id"], {
        u["run_id"] for u in used["uses"]
        if u["role"] == "test" and u["match"] in ("same-snapshot", "same-content", "same-rows")}


def test_index_and_canned_query_match_used_by(served, open_page, cli, scored):
    index = open_page(served + "/")
    assert index.console_errors == [] and index.requests == []
    assert index.page.title().startswith("Lineage graph")
    index.screenshot("browse-index")

    database = open_page(served + "/lineage")
    assert database.console_errors == [] and database.requests == []
    assert database.page.locator("a", has_text="Test-set usage by content").count() == 1
    database.screenshot("browse-database")

    snapshot, as_test = _used_as_test(cli)
    assert as_test == set(scored["evaluations"])
    query = open_page(f"{served}/lineage/test_set_usage?" + urllib.parse.urlencode({"snapshot": snapshot}))
    assert query.console_errors == [] and query.requests == []
    rows = query.page.locator("table.rows-and-columns tbody tr")
    assert rows.count() == len(as_test)
    shown = {rows.nth(i).locator("td.col-run_id").inner_text().strip() for i in range(rows.count())}
    assert shown == as_test
    query.screenshot("browse-test-set-usage")


def test_a_write_is_refused(served, open_page, workdir):
    db = workdir / ".lineage" / "lineage.db"
    before = db.read_bytes()
    insert = "INSERT INTO waivers (event_id, rule, run_id, reason, time) VALUES ('x', 'r', 'r', 'r', 't')"

    # the SQL page: Datasette answers 400 and says why
    visit = open_page(f"{served}/lineage?" + urllib.parse.urlencode({"sql": insert}))
    assert visit.requests == []
    assert "Statement must be a SELECT" in visit.page.locator("body").inner_text()
    visit.screenshot("browse-write-refused")
    # a script on the page posting SQL to the JSON API is refused too
    status = visit.page.evaluate(
        """async (sql) => (await fetch('/lineage.json', {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: 'sql=' + encodeURIComponent(sql)})).status""", insert)
    assert status in (403, 405)
    got = json.loads(visit.page.evaluate("async () => await (await fetch('/lineage/waivers.json?_shape=array')).text()"))
    assert got == []
    assert db.read_bytes() == before


def test_run_rows_link_to_their_reports(served, open_page, scored, cli):
    runs = {scored["train"], scored["tune"], *scored["evaluations"]}
    table = open_page(served + "/lineage/runs")
    assert table.console_errors == [] and table.requests == []
    links = table.page.locator("td.col-report a.lineage-report")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert hrefs == {f"/-/report/{r}" for r in runs}
    table.screenshot("browse-runs")

    # a run_id cell of a view links the same way; a snapshot ID cell does not
    inputs = open_page(served + "/lineage/run_inputs")
    cells = inputs.page.locator("td.col-run_id a.lineage-report")
    assert cells.count() == inputs.page.locator("td.col-run_id").count() > 0
    assert inputs.page.locator("td.col-snapshot_id a.lineage-report").count() == 0

    run = scored["evaluations"][0]
    if not _has_report():
        # the report package is not installed: the link's target says so, without a traceback
        assert _status(f"{served}/-/report/{run}") == 404
        return
    report = open_page(f"{served}/-/report/{run}")
    assert report.console_errors == [] and report.requests == []
    assert report.page.locator("section#summary").count() == 1
    report.screenshot("browse-report")
    assert _status(f"{served}/-/report/no-such-run") == 404
    assert _status(f"{served}/-/report/models") == 404  # a folder of the repo: never read as a path


def test_without_a_renderer_no_run_links(workdir, scored):
    """Browsing works without reports: no report column, no links, and the route says so."""
    from lineage.interop import browse

    with Repo.find(workdir) as repo:
        b = browse.prepare(repo, port=_free_port())
    try:
        assert "--template-dir" not in b.argv
        meta = json.loads((Path(b.workdir) / "metadata.json").read_text())
        assert meta["plugins"]["lineage"] == {}
    finally:
        shutil.rmtree(b.workdir, ignore_errors=True)
    with Repo.find(workdir) as repo:
        b = browse.prepare(repo, port=_free_port(), report_renderer=browse.REPORT_RENDERER)
    try:
        assert "--template-dir" in b.argv
        meta = json.loads((Path(b.workdir) / "metadata.json").read_text())
        assert meta["plugins"]["lineage"] == {"repo": str(workdir), "renderer": browse.REPORT_RENDERER}
    finally:
        shutil.rmtree(b.workdir, ignore_errors=True)
