"""``lineage browse``: Datasette over the lineage database, immutable, on loopback."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import write_tree

pytest.importorskip("datasette")

PY = sys.executable
TEST_ROWS = "x,y\n4,0\n5,1\n6,0\n"
SHUFFLED = "x,y\n6,0\n4,0\n5,1\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pipeline(cli, workdir):
    """train; evaluate on the test set; the same file renamed and a shuffled re-export
    scored again; a tuning run that reads the renamed copy as validation (not test)."""
    write_tree(workdir, {"data/train/a.csv": "x,y\n1,0\n2,1\n3,0\n", "data/test/t.csv": TEST_ROWS,
                         "data/holdout/renamed.csv": TEST_ROWS, "data/shuf/s.csv": SHUFFLED})
    train = "import os; os.makedirs('models', exist_ok=True); open('models/m.txt', 'w').write('w')"
    ok = "pass"
    assert cli("run", "-k", "train", "-i", "train=data/train", "-o", "models", "--", PY, "-c", train).code == 0
    evals = []
    for test in ("data/test", "data/holdout", "data/shuf"):
        r = cli("run", "-k", "evaluate", "-i", "model=models", "-i", f"test={test}", "--json", "--", PY, "-c", ok)
        assert r.code == 0, r.stderr
        evals.append(r.json["run_id"])
    assert cli("run", "-k", "tune", "-i", "validation=data/holdout", "--", PY, "-c", ok).code == 0
    return evals


def _get(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _start(workdir: Path, *args: str, sigint_ignored: bool = False) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    proc = subprocess.Popen([PY, "-m", "lineage", "browse", "--port", str(port), "--no-open", *args],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"browse exited {proc.returncode}: {proc.stderr.read()}")
        try:
            _get(base + "/-/versions.json", timeout=2)
            return proc, base
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("browse never answered") from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_browse_serves_canned_queries_metadata_and_refuses_writes(cli, workdir, pipeline):
    used = cli("used-by", "data/test", "--json").json
    test_id = used["snapshot_id"]
    as_test = {u["run_id"] for u in used["uses"]
               if u["role"] == "test" and u["match"] in ("same-snapshot", "same-content", "same-rows")}
    assert as_test == set(pipeline)  # the original, the renamed copy and the shuffled re-export
    db = workdir / ".lineage" / "lineage.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    proc, base = _start(workdir)
    try:
        q = urllib.parse.urlencode({"snapshot": test_id, "_shape": "array"})
        rows = _get(f"{base}/lineage/test_set_usage.json?{q}")
        assert len(rows) == len(as_test)
        assert {r["run_id"] for r in rows} == as_test
        assert sorted(r["match"] for r in rows) == ["same-content", "same-rows", "same-snapshot"]
        assert all(r["run_kind"] == "evaluate" for r in rows)  # the tuning run read it as validation

        model = cli("used-by", "models", "--json").json["snapshot_id"]
        q = urllib.parse.urlencode({"model": model, "_shape": "array"})
        runs = _get(f"{base}/lineage/runs_by_model.json?{q}")
        assert [r["how"] for r in runs].count("wrote") == 1
        assert {r["run_id"] for r in runs if r["how"] == "read as model"} == set(pipeline)

        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True,
                                text=True).stdout.strip()
        q = urllib.parse.urlencode({"commit": commit[:10], "_shape": "array"})
        snaps = _get(f"{base}/lineage/snapshots_of_commit.json?{q}")
        assert {s["snapshot_id"] for s in snaps} >= {test_id, model}
        q = urllib.parse.urlencode({"commit": "0000000", "_shape": "array"})
        assert _get(f"{base}/lineage/snapshots_of_commit.json?{q}") == []
        assert _get(f"{base}/lineage/findings_and_waivers.json?_shape=array") == []

        meta = _get(f"{base}/-/metadata.json")
        described = meta["databases"]["lineage"]["tables"]
        tables = _get(f"{base}/lineage.json")["tables"]
        names = {t["name"] for t in tables if not t["name"].startswith("sqlite_")}
        names |= {v["name"] for v in _get(f"{base}/lineage.json")["views"]}
        assert {"run_inputs", "evaluations", "waivers", "runs"} <= names
        assert names <= set(described) and all(described[n]["description"] for n in names)

        # writes: arbitrary SQL must be a SELECT; POST is not accepted; nothing changes the file
        q = urllib.parse.urlencode({"sql": "INSERT INTO waivers (event_id, rule, run_id, reason, time) "
                                           "VALUES ('x', 'r', 'r', 'r', 't')"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            _get(f"{base}/lineage.json?{q}")
        assert exc.value.code == 400
        q = urllib.parse.urlencode({"sql": "WITH x AS (SELECT 1) DELETE FROM runs"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            _get(f"{base}/lineage.json?{q}")
        assert exc.value.code == 400
        req = urllib.request.Request(f"{base}/lineage", data=b"sql=DELETE+FROM+runs", method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=10)
        assert exc.value.code in (403, 405)
        assert len(_get(f"{base}/lineage/runs.json?_shape=array")) == 5
    finally:
        code, out, err = _stop(proc)
    assert code in (0, 130), err
    assert "Traceback" not in err and "Traceback" not in out
    assert f"{base}/" in out
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_metadata_describes_every_table_and_view(cli, workdir, pipeline):
    from lineage.interop import browse
    from lineage.log.readonly import schema_objects

    names = {name for _, name in schema_objects(workdir / ".lineage" / "lineage.db")}
    assert names == set(browse.TABLES), "describe new tables in lineage/interop/browse.py TABLES"
    meta = browse.metadata()
    assert set(meta["databases"]["lineage"]["tables"]) - {"sqlite_sequence"} == names
    assert set(meta["databases"]["lineage"]["queries"]) == set(browse.QUERIES)
    assert not set(browse.QUERIES) & names  # a canned query never hides a table


def test_canned_queries_run_on_the_read_only_connection(cli, workdir, pipeline):
    """Each canned query is a plain SELECT: `lineage query`'s authorizer lets it through."""
    from lineage.interop import browse
    from lineage.log.readonly import query

    db = workdir / ".lineage" / "lineage.db"
    test_id = cli("used-by", "data/test", "--json").json["snapshot_id"]
    for name, q in browse.QUERIES.items():
        sql = q["sql"].replace(":snapshot", "?1").replace(":model", "?1").replace(":commit", "?1")
        assert query(db, sql, (test_id,) if "?1" in sql else ()).columns, name


def test_loopback_only_unless_host_given():
    from lineage.interop.browse import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--port", "0"], "--port must be between 1 and 65535"),
    (["--host", "no-such-host.invalid"], "cannot resolve host"),
])
def test_bad_options_are_one_line_and_exit_2(cli, args, message):
    r = cli("browse", "--no-open", *args)
    assert r.code == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_port_in_use_is_refused(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("browse", "--no-open", "--port", str(port))
    assert r.code == 2 and f"port {port} on 127.0.0.1 is in use" in r.stderr


def test_without_datasette_says_which_extra(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasette", None)
    r = cli("browse", "--no-open")
    assert r.code == 2 and "lineage[browse]" in r.stderr and "Traceback" not in r.stderr


def test_outside_a_repository_is_one_line(cli, tmp_path):
    r = cli("browse", "--no-open", cwd=tmp_path)
    assert r.code == 2 and "Traceback" not in r.stderr


def test_a_killed_browse_leaves_no_server_behind(workdir):
    """Datasette runs in its own session (a Ctrl-C reaches ``lineage browse`` only), and the
    kernel stops it when ``lineage browse`` dies, even by SIGKILL."""
    proc, base = _start(workdir)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 60  # waiting for the server to go, not timing it
    while True:
        try:
            _get(base + "/-/versions.json", timeout=2)
        except (urllib.error.URLError, ConnectionError, OSError):
            break
        if time.monotonic() > deadline:
            raise AssertionError("Datasette still answers after lineage browse was killed")
        time.sleep(0.2)


def test_sigint_stops_browse_started_with_sigint_ignored(workdir):
    """A shell's background job starts with SIGINT ignored; ``kill -INT`` still stops it."""
    proc, base = _start(workdir, sigint_ignored=True)
    code, _, err = _stop(proc)
    assert code in (0, 130), err
