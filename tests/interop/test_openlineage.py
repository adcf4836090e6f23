"""lineage export openlineage: RunEvents checked against the OpenLineage 2-0-2 schema, and
posted to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from conftest import SCHEMAS, git, validate, write_tree

CUSTOM = json.loads((SCHEMAS / "openlineage-facets.schema.json").read_text())


def check_event(event: dict) -> None:
    """Validate one event against the RunEvent schema, and every custom facet against its own."""
    validate(event, "openlineage-run-event.schema.json")
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        facets += [*ds.get("facets", {}).values(), *ds.get("inputFacets", {}).values()]
    for facet in facets:
        url = facet["_schemaURL"]
        if url.startswith(CUSTOM["$id"]):
            name = url.split("#/$defs/")[1]
            schema = {**CUSTOM, "$ref": f"#/$defs/{name}"}
            jsonschema.validate(facet, schema, cls=jsonschema.Draft202012Validator)


@pytest.fixture
def pipeline(repo, workdir, monkeypatch):
    """A train run, a failed evaluate run nested in it, and a tuning run still going."""
    from lineage import runs

    monkeypatch.chdir(workdir)
    write_tree(workdir, {"data/train.csv": "x,y\n1,0\n2,1\n3,0\n", "data/test.csv": "x,y\n9,1\n",
                         "train.py": "print('hi')\n"})
    git(workdir, "add", "train.py")
    git(workdir, "commit", "-q", "-m", "code")
    train = runs.start(repo, "train", command=["python", "train.py", "--lr", "0.1"],
                       params={"lr": 0.1}, inputs=[("train", "data/train.csv")])
    (workdir / "model.bin").write_bytes(b"weights")
    runs.add_output(repo, train, "model.bin")
    runs.finish(repo, train, exit_code=0)
    ev = runs.start(repo, "evaluate", run_id="eval-2024-q1", command=["python", "eval.py"],
                    inputs=[("model", "model.bin"), ("test", "data/test.csv")], parent_run=train)
    runs.finish(repo, ev, exit_code=3, error="scoring crashed")
    pending = runs.start(repo, "tune", command=["python", "tune.py"])
    return {"train": train, "eval": ev, "pending": pending}


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_finished_run_gives_start_and_complete(cli, pipeline, workdir, repo):
    r = cli("export", "openlineage", pipeline["train"])
    assert r.code == 0, r.stderr
    events = _lines(r.stdout)
    for ev in events:
        check_event(ev)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    start, done = events
    assert start["run"]["runId"] == done["run"]["runId"] == pipeline["train"]  # already a UUIDv7
    assert start["outputs"] == [] and len(done["outputs"]) == 1
    (inp,) = done["inputs"]
    assert inp["namespace"] == "file" and inp["name"] == str(workdir / "data" / "train.csv")
    assert inp["inputFacets"]["lineage_role"]["role"] == "train"
    from lineage import snapshots

    assert inp["facets"]["version"]["datasetVersion"] == snapshots.resolve(repo, "data/train.csv")
    assert inp["facets"]["dataSource"]["uri"].startswith("file://")
    job = done["job"]
    assert job["name"] == "train.train.py" and job["namespace"] == workdir.name
    code = job["facets"]["sourceCodeLocation"]
    assert code["type"] == "git" and code["version"] == git(workdir, "rev-parse", "HEAD")
    assert done["run"]["facets"]["lineage_run"]["kind"] == "train"


def test_failed_run_non_uuid_id_and_parent(cli, pipeline):
    events = _lines(cli("export", "openlineage", "eval-2024-q1").stdout)
    for ev in events:
        check_event(ev)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    run = events[1]["run"]
    expected = str(uuid.uuid5(uuid.UUID("2b0f7c56-8e0a-5d4b-b1a3-6c9e4f0d7a21"), "eval-2024-q1"))
    assert run["runId"] == expected == events[0]["run"]["runId"]
    assert run["facets"]["lineage_run"]["runId"] == "eval-2024-q1"
    assert run["facets"]["errorMessage"]["message"] == "scoring crashed"
    assert run["facets"]["parent"]["run"]["runId"] == pipeline["train"]
    assert run["facets"]["parent"]["job"]["name"] == "train.train.py"
    roles = {i["name"].rsplit("/", 1)[1]: i["inputFacets"]["lineage_role"]["role"] for i in events[1]["inputs"]}
    assert roles == {"model.bin": "model", "test.csv": "test"}
    # the same run exports to the same UUID every time
    assert _lines(cli("export", "openlineage", "eval-2024-q1").stdout)[0]["run"]["runId"] == expected


def test_running_run_has_only_start_and_all_exports_everything(cli, pipeline):
    events = _lines(cli("export", "openlineage", pipeline["pending"]).stdout)
    assert [e["eventType"] for e in events] == ["START"]
    r = cli("export", "openlineage", "--all", "--json")
    assert r.code == 0
    validate(r.json, "openlineage-run-event.schema.json")  # a JSON array of events
    assert sorted(e["eventType"] for e in r.json) == ["COMPLETE", "FAIL", "START", "START", "START"]


def test_schema_facet_from_the_tabular_profile(cli, pipeline, repo):
    from lineage import snapshots, tabular

    sid = snapshots.resolve(repo, "data/train.csv")
    _, files = tabular.file_records(repo, sid)  # make sure the profile is recorded
    assert files[0].ok
    done = _lines(cli("export", "openlineage", pipeline["train"]).stdout)[1]
    fields = done["inputs"][0]["facets"]["schema"]["fields"]
    assert [f["name"] for f in fields] == ["x", "y"] and all("type" in f for f in fields)
    # a non-tabular output has no schema facet
    assert "schema" not in done["outputs"][0]["facets"]


def test_output_file_and_credentials_never_exported(cli, pipeline, workdir, tmp_path):
    git(workdir, "remote", "add", "origin", "https://ann:s3cr3t-token@git.example.com/ml/proj.git")
    target = tmp_path / "events.jsonl"
    r = cli("export", "openlineage", pipeline["train"], "-o", str(target), "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "export-openlineage.schema.json")
    assert r.json["events"] == 2 and r.json["file"] == str(target)
    text = target.read_text()
    assert "s3cr3t" not in text
    assert _lines(text)[1]["job"]["facets"]["sourceCodeLocation"]["url"] == "https://git.example.com/ml/proj.git"


def test_naming_of_s3_and_local_datasets(repo):
    from lineage.interop.openlineage import dataset_name

    assert dataset_name(repo, "s3://bucket/raw/part-0.parquet", "x")[:2] == ("s3://bucket", "raw/part-0.parquet")
    assert dataset_name(repo, "data/a.csv", "x")[:2] == ("file", str(repo.root / "data" / "a.csv"))
    assert dataset_name(repo, None, "train")[:2] == ("lineage", "train")


class _Receiver(BaseHTTPRequestHandler):
    bodies: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        type(self).bodies.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def receiver():
    handler = type("Handler", (_Receiver,), {"bodies": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_post_to_an_openlineage_endpoint(cli, pipeline, receiver):
    handler, url = receiver
    exported = _lines(cli("export", "openlineage", "--all").stdout)
    r = cli("export", "openlineage", "--all", "--url", url, "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "export-openlineage.schema.json")
    assert r.json["events"] == 5 and r.json["url"] == url + "/api/v1/lineage"
    assert [p for p, _, _ in handler.bodies] == ["/api/v1/lineage"] * 5
    assert all(ct == "application/json" for _, ct, _ in handler.bodies)
    assert [b for _, _, b in handler.bodies] == exported  # exactly what the JSON lines say, in order
    for _, _, body in handler.bodies:
        check_event(body)
    text = cli("export", "openlineage", pipeline["train"], "--url", url)
    assert text.code == 0 and "Posted 2 OpenLineage event(s)" in text.stdout


def test_endpoint_errors_are_one_line(cli, pipeline, receiver):
    handler, url = receiver
    handler.status = 500
    started = time.monotonic()
    r = cli("export", "openlineage", pipeline["train"], "--url", url)
    assert r.code == 2 and "HTTP 500" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert len(handler.bodies) == 3  # the first attempt and two bounded retries
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("export", "openlineage", pipeline["train"], "--url", f"http://127.0.0.1:{port}", "--timeout", "1")
    assert r.code == 2 and "cannot reach OpenLineage endpoint" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 20
    r = cli("export", "openlineage", pipeline["train"], "--url", "ftp://127.0.0.1/x")
    assert r.code == 2 and "not an http(s) URL" in r.stderr


def test_usage_errors(cli, pipeline, tmp_path):
    assert cli("export", "openlineage").code == 2
    r = cli("export", "openlineage", "--all", pipeline["train"])
    assert r.code == 2 and "not both" in r.stderr
    r = cli("export", "openlineage", "no-such-run")
    assert r.code == 2 and "no-such-run" in r.stderr
    r = cli("export", "openlineage", pipeline["train"], "-o", str(tmp_path / "nope" / "x.jsonl"))
    assert r.code == 2 and "no such folder" in r.stderr
    assert cli("export", "openlineage", pipeline["train"][:13]).code == 0  # a unique prefix


def test_post_result_round_trips():
    from lineage.interop.openlineage import PostResult

    p = PostResult("http://127.0.0.1:1/api/v1/lineage", 2, [str(uuid.uuid4())])
    assert PostResult.from_dict(p.to_dict()) == p
