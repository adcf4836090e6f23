"""By-reference snapshots of data on S3 (a real SeaweedFS server): hashed where the bytes
live (by Dask workers reading through s3fs, or by this process), never copied into the
store; the same snapshot ID and fingerprint tables as a local snapshot of the same
bytes; verify re-hashes them, checkout says where they live."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

import s3_server
from conftest import make_git_repo, validate

from .test_dask import _close, _records, _table

pytestmark = pytest.mark.s3


def _repo(tmp: Path) -> Path:
    from lineage.repo import Repo

    path = make_git_repo(tmp)
    Repo.init(path)
    return path


def _data(root: Path) -> Path:
    """A folder of two Parquet tables (one with several row groups), a CSV and a binary file."""
    import pyarrow.parquet as pq

    data = root / "data"
    (data / "part").mkdir(parents=True)
    pq.write_table(_table(3_000, 1), data / "a.parquet", row_group_size=1_000)
    pq.write_table(_table(500, 2), data / "part" / "b.parquet")
    (data / "notes.csv").write_text("id,y\n1,a\n2,b\n3,a\n")
    (data / "blob.bin").write_bytes(bytes(range(256)) * 64)
    return data


@pytest.fixture
def lake(s3, monkeypatch, tmp_path):
    """A bucket holding the bytes of ``_data`` under ``lake/data``; credentials in the
    environment, as the AWS chain finds them."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    bucket = f"t{uuid.uuid4().hex[:12]}"
    fs = s3.filesystem()
    fs.mkdir(bucket)
    src = _data(tmp_path / "src")
    for p in sorted(src.rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{bucket}/lake/data/{p.relative_to(src).as_posix()}", p.read_bytes())
    return {"server": s3, "fs": fs, "bucket": bucket, "url": f"s3://{bucket}/lake/data", "src": src}


def _with_remote(cli, cwd: Path, lake: dict[str, Any]) -> None:
    """A remote on the same bucket: its endpoint is used to read the lake."""
    r = cli("remote", "add", "origin", f"s3://{lake['bucket']}/store", "--endpoint-url",
            lake["server"].endpoint, cwd=cwd)
    assert r.code == 0, r.stderr


def _local_snapshot(cli, tmp_path: Path, lake: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    import shutil

    local = _repo(tmp_path / "local")
    shutil.copytree(lake["src"], local / "data")
    r = cli("snapshot", "data", "--name", "d", "--label-column", "y", "--json", cwd=local)
    assert r.code == 0, r.stderr
    return local, r.json


def _secret_free(root: Path, *texts: str) -> None:
    secret = s3_server.SECRET_KEY
    for text in texts:
        assert secret not in text
    for p in (root / ".lineage").rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), p


def _digests(cwd: Path, sid: str) -> list[str]:
    from lineage.repo import Repo

    repo = Repo.find(cwd)
    try:
        return [r[0] for r in repo.graph.conn.execute("SELECT digest FROM files WHERE snapshot_id = ?", (sid,))]
    finally:
        repo.close()


def test_by_reference_snapshot_is_the_local_snapshot_without_the_bytes(cli, tmp_path, lake) -> None:
    local, a = _local_snapshot(cli, tmp_path, lake)
    here = _repo(tmp_path / "here")
    _with_remote(cli, here, lake)
    r = cli("snapshot", lake["url"] + "/", "--name", "d", "--label-column", "y", "--json", cwd=here)
    assert r.code == 0, r.stderr
    b = r.json
    assert b["id"] == a["id"] and b["files"] == 4 and b["stored"] is False and b["path"] == lake["url"]
    ra, rb = _records(local), _records(here)
    assert set(ra) == set(rb) == {"a.parquet", "part/b.parquet", "notes.csv"}
    for path in ra:
        assert ra[path]["fp_digest"] == rb[path]["fp_digest"], path  # byte-identical fingerprint tables
        assert ra[path]["rows_key"] == rb[path]["rows_key"], path
        _close(ra[path]["profile"], rb[path]["profile"], path)
    from lineage.repo import Repo

    repo = Repo.find(here)
    try:  # the store holds the manifest and the derived objects, no referenced bytes
        assert repo.store.exists(b["id"])
        assert all(not repo.store.exists(d) for d in _digests(here, b["id"]))
        assert all(repo.store.exists(rb[p]["fp_digest"]) for p in rb)
        etags = dict(repo.graph.conn.execute("SELECT path, etag FROM reference_files").fetchall())
        bodies = [e.body for e in repo.graph.events() if e.type == "snapshot.reference"]
    finally:
        repo.close()
    assert set(etags) == {"a.parquet", "part/b.parquet", "notes.csv", "blob.bin"} and all(etags.values())
    assert len(bodies) == 1 and bodies[0]["url"] == lake["url"]
    validate(bodies[0], "reference-event.schema.json")
    again = cli("snapshot", lake["url"], "--name", "d", "--json", cwd=here)
    assert again.code == 0 and again.json["unchanged"] is True
    # status, show and log say where the bytes live, without reading them
    st = cli("status", cwd=here)
    assert st.code == 0 and f"by reference: {lake['url']}" in st.stdout, st.stdout
    assert cli("status", "--json", cwd=here).json["datasets"][0]["state"] == "reference"
    shown = cli("show", "d", cwd=here)
    assert shown.code == 0 and "by reference" in shown.stdout and lake["url"] in shown.stdout
    logged = cli("log", "d", "--format", "table", cwd=here)
    assert logged.code == 0 and "by reference" in logged.stdout
    assert cli("diff", cwd=here).code == 0  # no working copy to compare with
    _secret_free(here, r.stdout, r.stderr, st.stdout, shown.stdout)


def test_checkout_writes_nothing_and_names_the_url(cli, tmp_path, lake) -> None:
    here = _repo(tmp_path / "here")
    _with_remote(cli, here, lake)
    sid = cli("snapshot", lake["url"], "--json", cwd=here).json["id"]
    r = cli("checkout", sid, "out", cwd=here)
    assert r.code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lake["url"] in lines[0] and "4 files" in lines[0], r.stderr
    assert "no version IDs recorded" in lines[0]
    assert not (here / "out").exists()
    # a checkout of every locked dataset leaves it out, as a pull does
    assert cli("checkout", cwd=here).code == 0


def test_verify_rehashes_and_reports_changed_and_missing_files(cli, tmp_path, lake) -> None:
    here = _repo(tmp_path / "here")
    _with_remote(cli, here, lake)
    assert cli("snapshot", lake["url"], cwd=here).code == 0
    ok = cli("verify", "--json", cwd=here)
    assert ok.code == 0, ok.stdout
    assert ok.json["reference_files_checked"] == 4 and ok.json["references"] == []
    fs, root = lake["fs"], f"{lake['bucket']}/lake/data"
    fs.pipe_file(f"{root}/notes.csv", b"id,y\n1,a\n2,b\n3,c\n")
    fs.rm(f"{root}/blob.bin")
    bad = cli("verify", cwd=here)
    assert bad.code == 1
    lines = [line for line in bad.stdout.splitlines() if "(by reference, snapshot" in line]
    assert len(lines) == 2, bad.stdout
    assert any(line.startswith("changed") and line.split()[1] == f"s3://{root}/notes.csv" for line in lines)
    assert any(line.startswith("missing") and line.split()[1] == f"s3://{root}/blob.bin" for line in lines)
    js = cli("verify", "--json", cwd=here).json
    assert sorted(p["problem"] for p in js["references"]) == ["changed", "missing"]


def test_same_bytes_rewritten_is_reported_as_moved(cli, tmp_path, lake) -> None:
    from lineage.repo import Repo

    here = _repo(tmp_path / "here")
    _with_remote(cli, here, lake)
    assert cli("snapshot", lake["url"], cwd=here).code == 0
    repo = Repo.find(here)
    try:  # a recorded ETag that is not the object's now (as a rewrite of a multipart upload gives)
        with repo.graph.conn:
            repo.graph.conn.execute("UPDATE reference_files SET etag = 'older' WHERE path = 'blob.bin'")
        from lineage.tabular import reference

        check = reference.verify(repo)
    finally:
        repo.close()
    assert [(p.problem, p.url.rsplit("/", 1)[1]) for p in check.problems] == [("moved", "blob.bin")]
    assert "ETag older ->" in check.problems[0].detail


def test_push_sends_the_derived_objects_only(cli, tmp_path, lake) -> None:
    from lineage.repo import Repo
    from lineage.sync.remotes import open_remote

    here = _repo(tmp_path / "here")
    _with_remote(cli, here, lake)
    sid = cli("snapshot", lake["url"], "--label-column", "y", "--json", cwd=here).json["id"]
    assert cli("remote", "add", "backup", str(tmp_path / "backup"), cwd=here).code == 0
    pushed = cli("push", "--remote", "backup", "--json", cwd=here)
    assert pushed.code == 0, pushed.stderr
    assert cli("gc", cwd=here).code == 0  # nothing of the referenced bytes to keep or delete
    repo = Repo.find(here)
    try:
        inv = open_remote(repo, "backup").inventory()
        fps = [r[0] for r in repo.graph.conn.execute("SELECT fingerprints FROM tabular_files")]
        assert fps and all(inv.has(d) and repo.store.exists(d) for d in fps)
        assert inv.has(sid)
        assert not any(inv.has(d) for d in _digests(here, sid))
    finally:
        repo.close()
    # a clone pulls the history and the derived objects; nothing to write for the dataset
    clone = _repo(tmp_path / "clone")
    assert cli("remote", "add", "backup", str(tmp_path / "backup"), cwd=clone).code == 0
    pulled = cli("pull", "--remote", "backup", cwd=clone)
    assert pulled.code == 0, pulled.stderr
    assert not (clone / lake["url"].split("://")[1]).exists()
    assert cli("status", "--json", cwd=clone).json["datasets"][0]["state"] == "reference"


def test_environment_endpoint_without_a_remote(cli, tmp_path, lake, monkeypatch) -> None:
    here = _repo(tmp_path / "here")
    monkeypatch.setenv("AWS_ENDPOINT_URL", lake["server"].endpoint)
    r = cli("snapshot", lake["url"] + "/blob.bin", "--json", cwd=here)
    assert r.code == 0, r.stderr
    assert r.json["kind"] == "file" and r.json["files"] == 1
    import blake3

    from lineage.snapshots.manifest import Entry, Manifest

    data = (lake["src"] / "blob.bin").read_bytes()
    manifest = Manifest.build("file", [Entry("blob.bin", len(data), blake3.blake3(data).hexdigest())])
    assert r.json["id"] == blake3.blake3(manifest.encode_text().encode()).hexdigest()
    import lineage  # the Python API takes a URL too
    from lineage.repo import Repo

    repo = Repo.find(here)
    try:
        again = lineage.snapshot(lake["url"] + "/blob.bin", repo=repo, store=True)
    finally:
        repo.close()
    assert again.id == r.json["id"] and again.unchanged and not again.stored


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["no-bucket", "empty-prefix", "unreachable", "no-credentials", "credentials-in-url"])
def test_bad_sources_are_one_line_exit_2(cli, tmp_path, lake, monkeypatch, case) -> None:
    here = _repo(tmp_path / "here")
    monkeypatch.setenv("AWS_ENDPOINT_URL", lake["server"].endpoint)
    url = lake["url"]
    if case == "no-bucket":
        url = "s3://no-such-bucket-here/data"
    elif case == "empty-prefix":
        url = f"s3://{lake['bucket']}/nothing/here"
    elif case == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    elif case == "no-credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    else:
        url = f"s3://key:{s3_server.SECRET_KEY}@{lake['bucket']}/lake/data"
    r = cli("snapshot", url, cwd=here)
    assert r.code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    expected = {"no-bucket": "no such bucket or prefix", "empty-prefix": "no files under",
                "unreachable": "cannot reach", "no-credentials": "no credentials",
                "credentials-in-url": "embedded credentials"}[case]
    assert expected in lines[0], lines[0]
    _secret_free(here, r.stdout, r.stderr)
    assert cli("log", "--json", cwd=here).json["snapshots"] == []


@pytest.mark.slow
def test_dask_workers_hash_and_fingerprint_through_s3fs(cli, tmp_path, lake, dask_scheduler) -> None:
    from distributed import Client

    from lineage.tabular import reference

    local, a = _local_snapshot(cli, tmp_path, lake)
    here = _repo(tmp_path / "dask")
    _with_remote(cli, here, lake)

    def files_hashed_by_workers(client: Client) -> int:
        return sum(c["files"] for c in client.run(reference.hashed_here).values())

    with Client(dask_scheduler, set_as_default=False) as client:
        before_workers, before_here = files_hashed_by_workers(client), reference.hashed_here()["files"]
        r = cli("snapshot", lake["url"], "--name", "d", "--label-column", "y", "--engine", "dask",
                "--scheduler", dask_scheduler, "--json", cwd=here)
        assert r.code == 0, r.stderr
        hashed_by_workers = files_hashed_by_workers(client) - before_workers
        # the CSV is also copied here to be read (the workers read Parquet only); the rest is theirs
        assert hashed_by_workers == 4
        assert reference.hashed_here()["files"] - before_here == 1
    assert r.json["id"] == a["id"]
    ra, rb = _records(local), _records(here)
    assert set(ra) == set(rb)
    for path in ra:
        assert ra[path]["fp_digest"] == rb[path]["fp_digest"], path
        _close(ra[path]["profile"], rb[path]["profile"], path)
    _secret_free(here, r.stdout, r.stderr)
    # verify through the engine configured for the repository
    (here / "pyproject.toml").write_text(
        f'[tool.lineage.engine]\nengine = "dask"\nscheduler = "{dask_scheduler}"\n')
    with Client(dask_scheduler, set_as_default=False) as client:
        before = files_hashed_by_workers(client)
        v = cli("verify", "--json", cwd=here)
        assert v.code == 0 and v.json["reference_files_checked"] == 4
        assert files_hashed_by_workers(client) - before == 4


def test_audit_of_by_reference_tables_finds_the_copied_rows(cli, tmp_path, lake) -> None:
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import lineage
    from lineage.repo import Repo

    def table(n: int, seed: int) -> pa.Table:
        r = np.random.default_rng(seed)
        return pa.table({"x": r.normal(size=n), "k": r.integers(0, 50, n), "y": r.integers(0, 2, n)})

    test = table(200, 7)
    train = pa.concat_tables([table(1_000, 8), test.slice(0, 5)])  # 5 test rows copied into train
    for name, t in (("train", train), ("test", test)):
        buf = io.BytesIO()
        pq.write_table(t, buf)
        lake["fs"].pipe_file(f"{lake['bucket']}/lake/{name}/t.parquet", buf.getvalue())
    here = _repo(tmp_path / "here")
    _with_remote(cli, here, lake)
    ids = {}
    for name in ("train", "test"):
        r = cli("snapshot", f"s3://{lake['bucket']}/lake/{name}/", "--name", name, "--label-column", "y",
                "--json", cwd=here)
        assert r.code == 0, r.stderr
        ids[name] = r.json["id"]
    (here / "model.bin").write_bytes(b"weights")
    repo = Repo.find(here)
    try:
        with lineage.run(kind="train", repo=repo) as run:
            run.input(ids["train"], role="train")
            run.output(here / "model.bin")
        with lineage.run(kind="evaluate", repo=repo) as run:
            run.input(here / "model.bin", role="model")
            run.input(ids["test"], role="test")
            run.log_metric("accuracy", 0.9, split="test")
            evaluation = run.id
    finally:
        repo.close()
    audit = cli("audit", evaluation, "--format", "json", cwd=here)
    assert audit.code == 1, audit.stderr
    overlap = next(f for f in audit.json["findings"] if f["rule"] == "exact-overlap")
    assert overlap["evidence"]["overlap"] == 5


class _Listing:
    """A listing as a store returns it (``fs.find(root, detail=True)``)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def find(self, root: str, detail: bool = True) -> dict[str, dict[str, Any]]:
        return {k: {"type": "file", "size": 1, "ETag": '"e"'} for k in self.keys}


def test_a_key_that_climbs_out_is_refused_before_it_enters_a_manifest() -> None:
    from lineage.errors import UnsafePathError
    from lineage.snapshots.reference import Source, list_files

    source = Source("source", "s3://bucket/lake")
    kind, listed = list_files(source, _Listing(["bucket/lake/a.csv", "bucket/lake/sub/b.csv"]), "bucket/lake")
    assert kind == "folder" and [x.path for x in listed] == ["a.csv", "sub/b.csv"]
    with pytest.raises(UnsafePathError, match=r"key under s3://bucket/lake"):
        list_files(source, _Listing(["bucket/lake/a.csv", "bucket/lake/x/../../../etc/cron"]), "bucket/lake")
