"""``lineage snapshot --engine dask`` on a real cluster (two worker processes): the same
snapshot, fingerprint tables and profiles as the local pass; clear errors when the
engine cannot be used."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import make_git_repo

pytest.importorskip("distributed")

# the cluster (``dask_scheduler``) is a fixture of tests/engines/conftest.py


def _table(n: int, seed: int):
    import numpy as np
    import pyarrow as pa

    r = np.random.default_rng(seed)
    x = r.normal(size=n)
    x[::97] = np.nan
    return pa.table({
        "__index_level_0__": np.arange(n, dtype=np.int64),  # index-like: fp_data
        "x": x,                                              # float: near keys
        "k": r.integers(0, 50, n),
        "s": pa.array([None if i % 31 == 0 else f"v{i % 997}" for i in range(n)]),
        "patient": r.integers(0, 1000, n),
        "when": pa.array(np.datetime64("2024-01-01") + r.integers(0, 10**6, n).astype("timedelta64[s]")),
        "y": r.integers(0, 2, n),
    })


def _tree(root: Path) -> Path:
    """A multi-row-group file and a partitioned dataset (with a CSV the client reads)."""
    import pyarrow.parquet as pq

    data = root / "data"
    (data / "part" / "year=2023").mkdir(parents=True)
    (data / "part" / "year=2024").mkdir(parents=True)
    # row groups of 40,000 rows: the splits start mid-group (at multiples of the batch size)
    pq.write_table(_table(150_000, 1), data / "big.parquet", row_group_size=40_000)
    pq.write_table(_table(70_000, 2), data / "part" / "year=2023" / "part-0.parquet", row_group_size=30_000)
    pq.write_table(_table(5_000, 3), data / "part" / "year=2024" / "part-0.parquet")
    pq.write_table(_table(0, 4), data / "part" / "year=2024" / "empty.parquet")
    (data / "part" / "notes.csv").write_text("a,b\n1,x\n2,y\n")
    return data


def _repo(tmp: Path) -> Path:
    from lineage.repo import Repo

    path = make_git_repo(tmp)
    Repo.init(path)
    return path


def _snapshot(cli, cwd: Path, *extra: str) -> dict[str, Any]:
    r = cli("snapshot", "data", "--name", "d", "--label-column", "y", "--group-column", "patient",
            "--time-column", "when", "--json", *extra, cwd=cwd)
    assert r.code == 0, r.stderr
    return r.json


def _records(cwd: Path) -> dict[str, dict[str, Any]]:
    """Per file: the recorded metadata and the bytes of its fingerprint table and profile."""
    import json

    from lineage.repo import Repo

    repo = Repo.find(cwd)
    try:
        rows = repo.graph.conn.execute(
            "SELECT DISTINCT f.path, t.status, t.rows, t.fingerprints, t.profile, t.rows_key "
            "FROM tabular_files t JOIN files f ON f.digest = t.digest").fetchall()
        out = {}
        for path, status, nrows, fp, prof, rows_key in rows:
            out[path] = {"status": status, "rows": nrows, "rows_key": rows_key, "fp_digest": fp,
                         "fingerprints": repo.store.read_bytes(fp) if fp else None,
                         "profile": json.loads(repo.store.read_bytes(prof)) if prof else None}
        return out
    finally:
        repo.close()


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats within a relative 1e-9 (the merged moments)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.slow
def test_dask_gives_the_local_snapshot(dask_scheduler: str, tmp_path: Path, cli) -> None:
    local, remote = _repo(tmp_path / "local"), _repo(tmp_path / "dask")
    _tree(local)
    _tree(remote)
    a = _snapshot(cli, local)
    b = _snapshot(cli, remote, "--engine", "dask", "--scheduler", dask_scheduler)
    assert a["id"] == b["id"]
    ra, rb = _records(local), _records(remote)
    assert set(ra) == set(rb) == {"big.parquet", "part/year=2023/part-0.parquet",
                                  "part/year=2024/part-0.parquet",
                                  "part/year=2024/empty.parquet", "part/notes.csv"}
    for path in ra:
        assert ra[path]["fp_digest"] == rb[path]["fp_digest"], path  # byte-identical tables
        assert ra[path]["fingerprints"] == rb[path]["fingerprints"], path
        assert ra[path]["rows_key"] == rb[path]["rows_key"], path
        assert ra[path]["rows"] == rb[path]["rows"], path
        _close(ra[path]["profile"], rb[path]["profile"], path)
    assert ra["big.parquet"]["rows"] == 150_000


@pytest.mark.slow
def test_engine_from_pyproject(dask_scheduler: str, tmp_path: Path, cli) -> None:
    import pyarrow.parquet as pq

    local, remote = _repo(tmp_path / "local"), _repo(tmp_path / "dask")
    for root in (local, remote):
        (root / "data").mkdir()
        pq.write_table(_table(1_000, 5), root / "data" / "t.parquet", row_group_size=300)
    (remote / "pyproject.toml").write_text(
        f'[tool.lineage.engine]\nengine = "dask"\nscheduler = "{dask_scheduler}"\n')
    assert _snapshot(cli, local)["id"] == _snapshot(cli, remote)["id"]
    assert _records(local)["t.parquet"]["fp_digest"] == _records(remote)["t.parquet"]["fp_digest"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_exit_2(cli, workdir: Path, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("LINEAGE_DASK_CONNECT_TIMEOUT", "1")
    pq.write_table(pa.table({"a": [1, 2]}), workdir / "t.parquet")
    address = f"tcp://127.0.0.1:{_free_port()}"
    r = cli("snapshot", "t.parquet", "--engine", "dask", "--scheduler", address)
    assert r.code == 2
    assert r.stderr.strip().splitlines() == [f"error: cannot reach the Dask scheduler at {address} within 1 s"]
    assert "Traceback" not in r.stderr


def test_configured_scheduler_is_not_contacted_without_need(cli, workdir: Path, monkeypatch) -> None:
    """--engine local wins over the configuration, and a snapshot without Parquet files
    never connects; a configured but unreachable scheduler is reported."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("LINEAGE_DASK_CONNECT_TIMEOUT", "1")
    (workdir / "pyproject.toml").write_text(
        f'[tool.lineage.engine]\nscheduler = "tcp://127.0.0.1:{_free_port()}"\n')
    (workdir / "t.csv").write_text("a\n1\n")
    assert cli("snapshot", "t.csv").code == 0
    pq.write_table(pa.table({"a": [1, 2]}), workdir / "t.parquet")
    assert cli("snapshot", "t.parquet", "--engine", "local").code == 0
    pq.write_table(pa.table({"a": [1, 2, 3]}), workdir / "u.parquet")
    r = cli("snapshot", "u.parquet")
    assert r.code == 2 and "cannot reach the Dask scheduler" in r.stderr


def test_bad_engine_settings(cli, workdir: Path) -> None:
    r = cli("snapshot", "x", "--engine", "ray")
    assert r.code == 2 and r.stderr.strip().splitlines() == [
        "error: unknown engine 'ray' in --engine/--scheduler (one of: local, dask, spark)"]
    (workdir / "pyproject.toml").write_text('[tool.lineage.engine]\nscheduler = "localhost"\n')
    (workdir / "t.parquet").write_bytes(b"")
    r = cli("snapshot", "t.parquet")
    assert r.code == 2 and "tcp://HOST:PORT" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_engine_not_installed_names_the_extra(workdir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2]}), workdir / "t.parquet")
    code = ("import sys; sys.modules['distributed'] = None\n"  # as if dask[distributed] were absent
            "from lineage.cli.app import run; sys.argv = ['lineage', 'snapshot', 't.parquet', '--engine', 'dask']\n"
            "run()")
    p = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [
        "error: the Dask engine is not installed: pip install 'lineage[dask]'"]


@pytest.mark.slow
def test_worker_with_another_scheme_is_refused(dask_scheduler: str, cli, workdir: Path, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lineage.tabular import kernel

    monkeypatch.setattr(kernel, "scheme_id", lambda: "lineage-fp-999 lineage-near-2 bits=18")
    pq.write_table(pa.table({"a": [1, 2]}), workdir / "t.parquet")
    r = cli("snapshot", "t.parquet", "--engine", "dask", "--scheduler", dask_scheduler)
    assert r.code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "computes 'lineage-fp-1 " in lines[0] and "lineage-fp-999" in lines[0]


@pytest.mark.slow
def test_hive_partitioned_dataset_with_row_groups_is_the_local_snapshot(dask_scheduler: str, tmp_path: Path,
                                                                         cli) -> None:
    """year=/month= folders of Parquet files, each of several row groups (some larger than a
    batch, so their splits start inside a group): each file is recorded as locally."""
    import pyarrow.parquet as pq

    files = {"year=2023/part-0.parquet": (140_000, 50_000), "year=2023/part-1.parquet": (20_000, 3_000),
             "year=2024/month=01/part-0.parquet": (70_000, 20_000),
             "year=2024/month=02/part-0.parquet": (9_000, 1_000)}
    roots = _repo(tmp_path / "local"), _repo(tmp_path / "dask")
    for root in roots:
        for n, (rel, (rows, group)) in enumerate(files.items()):
            path = root / "data" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(_table(rows, 10 + n), path, row_group_size=group)
    assert all(pq.ParquetFile(roots[0] / "data" / rel).metadata.num_row_groups > 1 for rel in files)
    a = _snapshot(cli, roots[0])
    b = _snapshot(cli, roots[1], "--engine", "dask", "--scheduler", dask_scheduler)
    assert a["id"] == b["id"]
    ra, rb = _records(roots[0]), _records(roots[1])
    assert set(ra) == set(rb) == set(files)
    for rel, (rows, _) in files.items():
        assert ra[rel]["rows"] == rb[rel]["rows"] == rows, rel
        assert ra[rel]["fingerprints"] == rb[rel]["fingerprints"], rel
        assert ra[rel]["rows_key"] == rb[rel]["rows_key"], rel
        _close(ra[rel]["profile"], rb[rel]["profile"], rel)


@pytest.mark.slow
def test_worker_without_lineage_is_one_line_exit_2(tmp_path: Path, cli, workdir: Path, monkeypatch) -> None:
    """A worker whose Python has distributed but not lineage: this interpreter without site
    processing (-S), its site-packages on PYTHONPATH, so the editable install's finder is absent."""
    import json
    import os
    import sysconfig
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .conftest import _start, _stop

    monkeypatch.setenv("LINEAGE_DASK_CONNECT_TIMEOUT", "120")  # time for the worker to join
    tmp = tmp_path / "bare"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    bare = [sys.executable, "-S"]
    probe = subprocess.run([*bare, "-c", "import distributed; import lineage"], cwd=tmp, env=env,
                           capture_output=True, text=True)
    assert "No module named 'lineage'" in probe.stderr  # distributed imports, lineage does not
    sfile = tmp / "scheduler.json"
    scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(sfile)], tmp / "scheduler.log")
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not sfile.exists() or not sfile.read_text().strip():
            assert scheduler.poll() is None and time.monotonic() < deadline, (tmp / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(sfile.read_text())["address"]
        worker = subprocess.Popen([*bare, "-m", "distributed.cli.dask_worker", address, "--no-nanny",
                                   "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                                   "--local-directory", str(tmp)],
                                  cwd=tmp, env=env, stdout=open(tmp / "worker.log", "wb"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        pq.write_table(pa.table({"a": [1, 2]}), workdir / "t.parquet")
        r = cli("snapshot", "t.parquet", "--engine", "dask", "--scheduler", address)
        assert r.code == 2, (tmp / "worker.log").read_text()[-2000:]
        assert r.stderr.strip().splitlines() == [
            "error: a Dask worker cannot import lineage; install it on every worker (pip install 'lineage[dask]')"]
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)
