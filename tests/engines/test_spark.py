"""``lineage.spark`` on a real SparkSession in ``local[2]`` mode: the same fingerprint
values as the local pass, row by row, and the same snapshot; clear errors when Spark
cannot be used."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import make_git_repo

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow,  # a JVM starts for the module
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")]

DECL = {"label_column": "y", "group_column": "patient", "time_column": "when"}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One SparkSession for the module, on 127.0.0.1, its Python workers this interpreter;
    small file splits, so a file of a few row groups is read as several partitions."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("lineage-tests")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.files.maxPartitionBytes", "16384")
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    try:
        yield session
    finally:
        session.stop()


def _table(n: int, seed: int):
    import numpy as np
    import pyarrow as pa

    r = np.random.default_rng(seed)
    x = r.normal(size=n)
    x[::97] = np.nan
    return pa.table({
        "x": x,                                              # float: near keys
        "k": r.integers(0, 50, n),
        "s": pa.array([None if i % 31 == 0 else f"v{i % 997}" for i in range(n)]),
        "patient": r.integers(0, 100, n),
        "when": pa.array(np.datetime64("2024-01-01") + r.integers(0, 10**6, n).astype("timedelta64[us]"),
                         pa.timestamp("us", "UTC")),
        "y": r.integers(0, 2, n),
    })


def _repo(tmp: Path) -> Path:
    import pyarrow.parquet as pq

    from lineage.repo import Repo

    path = make_git_repo(tmp)
    Repo.init(path)
    (path / "data").mkdir()
    pq.write_table(_table(4_000, 1), path / "data" / "t.parquet", row_group_size=700)
    return path


def _stored_fingerprints(root: Path, rel: str):
    """The fingerprint table recorded for ``rel`` in the repository at ``root``."""
    import pyarrow.parquet as pq

    from lineage.repo import Repo

    with Repo.find(root) as repo:
        (fp,) = repo.graph.conn.execute(
            "SELECT t.fingerprints FROM tabular_files t JOIN files f ON f.digest = t.digest "
            "WHERE f.path = ?", (rel,)).fetchone()
        return fp, pq.read_table(io.BytesIO(repo.store.read_bytes(fp)))


def test_fingerprint_gives_the_local_values_row_by_row(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa

    import lineage
    from lineage import spark as lspark

    root = _repo(tmp_path)
    with lineage.open(root) as repo:
        lineage.snapshot(root / "data", name="d", repo=repo, **DECL)
    _, local = _stored_fingerprints(root, "t.parquet")
    df = spark.read.parquet(str(root / "data" / "t.parquet"))
    assert df.rdd.getNumPartitions() > 1  # the row numbers cross partitions
    got = lspark.fingerprint(df, **DECL).toArrow()
    assert got.schema.names == local.schema.names
    assert got.num_rows == local.num_rows == 4_000
    for name in local.schema.names:
        want = local.column(name)
        if pa.types.is_fixed_size_binary(want.type):
            want = want.cast(pa.binary())
        have = got.column(name)
        if pa.types.is_timestamp(want.type):
            have = have.cast(want.type)
        assert have.to_pylist() == want.to_pylist(), name


def test_fingerprint_refuses_a_column_the_dataframe_lacks(spark: Any) -> None:
    from lineage import spark as lspark
    from lineage.errors import UsageError

    df = spark.createDataFrame([(1.0, 0)], "x double, y long")
    with pytest.raises(UsageError, match="declared label column 'nope'"):
        lspark.fingerprint(df, label_column="nope")
    assert lspark.fingerprint(df, label_column="y").count() == 1


def test_snapshot_of_a_path_is_the_local_snapshot(spark: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import lineage
    from lineage import spark as lspark
    from lineage.interop import spark as ispark
    from lineage.tabular import engines

    on_spark: list[str] = []
    real = ispark._Runner.compute_files

    def spy(self: Any, files: list[tuple[str, str]], *args: Any) -> Any:
        on_spark.extend(display for display, _ in files)
        return real(self, files, *args)

    monkeypatch.setattr(ispark._Runner, "compute_files", spy)
    local, remote = _repo(tmp_path / "local"), _repo(tmp_path / "spark")
    with lineage.open(local) as repo:
        a = lineage.snapshot(local / "data", name="d", repo=repo, **DECL)
    assert on_spark == []  # the plain snapshot stays local
    with lineage.open(remote) as repo:
        b = lspark.snapshot(remote / "data", name="d", repo=repo, spark=spark, **DECL)
    assert on_spark == ["data/t.parquet"]  # read and hashed by the executors
    assert engines.runner() is None  # only inside the call
    assert a.id == b.id
    fa, ta = _stored_fingerprints(local, "t.parquet")
    fb, tb = _stored_fingerprints(remote, "t.parquet")
    assert fa == fb  # the same derived bytes
    assert ta.equals(tb)


def test_snapshot_of_a_dataframe_writes_it_under_the_repository(spark: Any, tmp_path: Path) -> None:
    import lineage
    from lineage import spark as lspark
    from lineage.errors import UsageError

    root = _repo(tmp_path)
    df = spark.read.parquet(str(root / "data" / "t.parquet"))
    with lineage.open(root) as repo:
        with pytest.raises(UsageError, match="needs name="):
            lspark.snapshot(df, repo=repo, spark=spark)
        result = lspark.snapshot(df, name="t", repo=repo, spark=spark, **DECL)
    folder = root / lspark.DATAFRAME_FOLDER / "t"
    files = sorted(p.name for p in folder.rglob("*") if p.is_file())
    assert files and all(f.endswith(".parquet") for f in files)  # no _SUCCESS, no .crc
    assert result.id
    with lineage.open(root) as repo:
        rows = repo.graph.conn.execute(
            "SELECT SUM(t.rows) FROM tabular_files t JOIN files f ON f.digest = t.digest "
            "WHERE f.path LIKE 'part-%.parquet'").fetchone()[0]
    assert rows == 4_000


def test_executors_of_another_scheme_are_refused(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage.errors import EngineError
    from lineage.interop import spark as ispark
    from lineage.tabular import kernel

    monkeypatch.setattr(ispark, "_CHECKED", set())
    monkeypatch.setattr(kernel, "scheme_id", lambda: "lineage-fp-0 other")
    with pytest.raises(EngineError, match="executor computes .* this driver 'lineage-fp-0 other'"):
        ispark.check_executors(spark)
    monkeypatch.undo()
    ispark.check_executors(spark)  # the real scheme passes


def test_missing_pyspark_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['pyspark'] = None\n"
            "from lineage import spark\n"
            "from lineage.errors import EngineError\n"
            "try:\n    spark.fingerprint(None)\n"
            "except EngineError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "the Spark engine is not installed: pip install 'lineage[spark]'"


# -- lineage snapshot --engine spark ---------------------------------------------------------

def _pieces_cover(row_groups: list[int], batches: int) -> None:
    from lineage.interop import spark as ispark
    from lineage.tabular.readers import BATCH_ROWS

    got = ispark.pieces(row_groups, batches)
    offsets = [0]
    for n in row_groups:
        offsets.append(offsets[-1] + n)
    pos = 0
    for groups, skip, start, stop in got:
        assert start == pos and start % BATCH_ROWS == 0  # contiguous, on the local pass's batches
        assert 0 < stop - start <= batches * BATCH_ROWS
        assert offsets[groups[0]] + skip == start
        assert offsets[groups[-1]] < stop <= offsets[groups[-1] + 1]
        pos = stop
    assert pos == sum(row_groups)


def test_pieces_are_bounded_and_cover_the_file() -> None:
    from lineage.interop import spark as ispark
    from lineage.tabular.readers import BATCH_ROWS

    for row_groups in ([1_000_000] * 5, [150_000, 50_000], [10, 0, 70_000, 65_536, 3], [BATCH_ROWS * 4]):
        for batches in (1, 2, 4):
            _pieces_cover(row_groups, batches)
    assert len(ispark.pieces([1_000_000])) == 4  # a 1M-row group: four tasks of at most 4 batches
    assert ispark.pieces([]) == [] and ispark.pieces([0]) == []


def _big_repo(tmp: Path) -> Path:
    """A repository whose table has row groups larger than a batch (pieces start inside them)."""
    import pyarrow.parquet as pq

    from lineage.repo import Repo

    path = make_git_repo(tmp)
    Repo.init(path)
    (path / "data").mkdir()
    pq.write_table(_table(200_000, 7), path / "data" / "big.parquet", row_group_size=150_000)
    (path / "data" / "notes.csv").write_text("a,b\n1,x\n")
    return path


def _snapshot_cli(cli: Any, cwd: Path, *extra: str) -> Any:
    return cli("snapshot", "data", "--name", "d", "--label-column", "y", "--group-column", "patient",
               "--time-column", "when", "--json", *extra, cwd=cwd)


def test_engine_spark_uses_the_active_session_and_gives_the_local_snapshot(
        spark: Any, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage.interop import spark as ispark

    monkeypatch.setattr(ispark, "TASK_BATCHES", 1)  # a task per batch: pieces inside row groups
    tasks: list[int] = []
    real = ispark.pieces

    def spy(row_groups: list[int], *args: Any) -> Any:
        got = real(row_groups, *args)
        tasks.append(len(got))
        return got

    monkeypatch.setattr(ispark, "pieces", spy)
    local, remote = _big_repo(tmp_path / "local"), _big_repo(tmp_path / "spark")
    a = _snapshot_cli(cli, local, "--engine", "local")
    assert a.code == 0, a.stderr
    assert tasks == []  # --engine local sends nothing to Spark
    b = _snapshot_cli(cli, remote, "--engine", "spark")
    assert b.code == 0, b.stderr
    assert tasks == [4]  # 200,000 rows: three full batches and the rest, one task each
    assert a.json["id"] == b.json["id"]
    for rel in ("big.parquet", "notes.csv"):
        fa, ta = _stored_fingerprints(local, rel)
        fb, tb = _stored_fingerprints(remote, rel)
        assert fa == fb, rel  # the same derived objects
        assert ta.equals(tb)
    assert spark.range(3).count() == 3  # the caller's session is left running


def test_engine_spark_not_started_without_a_parquet_file_to_compute(
        spark: Any, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage.interop import spark as ispark

    started: list[Any] = []
    monkeypatch.setattr(ispark, "check_executors", lambda s=None: started.append(s))
    root = _big_repo(tmp_path)
    (root / "pyproject.toml").write_text('[tool.lineage.engine]\nengine = "spark"\n')
    (root / "only").mkdir()
    (root / "only" / "t.csv").write_text("a\n1\n")
    assert cli("snapshot", "only", cwd=root).code == 0  # no Parquet file
    assert cli("snapshot", "data", "--engine", "local", cwd=root).code == 0  # --engine wins
    assert cli("snapshot", "data", cwd=root).code == 0  # recorded already: nothing to compute
    assert started == []


def _lineage(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``lineage ARGS`` in a process of its own (its own JVM, no active SparkSession)."""
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


def _one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and p.stderr.strip().splitlines()[-1] == errors[0], p.stderr
    return errors[0]


def test_engine_spark_from_pyproject_starts_a_session_of_its_own(tmp_path: Path) -> None:
    """master and conf from [tool.lineage.engine]; the session it starts runs the same kernel."""
    local, remote = _repo(tmp_path / "local"), _repo(tmp_path / "spark")
    (remote / "pyproject.toml").write_text(
        '[tool.lineage.engine]\nengine = "spark"\nmaster = "local[2]"\n'
        'conf = { "spark.sql.shuffle.partitions" = 2, "spark.ui.showConsoleProgress" = false }\n')
    args = ["snapshot", "data", "--name", "d", "--label-column", "y", "--json"]
    a, b = _lineage(args, local), _lineage(args, remote)
    assert a.returncode == 0 and b.returncode == 0, b.stderr
    assert json.loads(a.stdout)["id"] == json.loads(b.stdout)["id"]
    assert _stored_fingerprints(local, "t.parquet")[0] == _stored_fingerprints(remote, "t.parquet")[0]


def test_executor_without_lineage_is_one_line_exit_2(tmp_path: Path) -> None:
    """The executors' Python is this interpreter without its site-packages (-S): pyspark
    comes from Spark's own path, lineage is nowhere."""
    root = _repo(tmp_path)
    bare = tmp_path / "python-without-lineage"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    lacks = subprocess.run([str(bare), "-c", "import lineage"], cwd=tmp_path, capture_output=True, text=True)
    assert lacks.returncode != 0 and "No module named 'lineage'" in lacks.stderr
    (root / "pyproject.toml").write_text(
        f'[tool.lineage.engine]\nengine = "spark"\nmaster = "local[1]"\n'
        f'conf = {{ "spark.pyspark.python" = "{bare}" }}\n')
    p = _lineage(["snapshot", "data"], root)
    assert _one_error_line(p) == ("error: a Spark executor cannot import lineage; install it on every "
                                  "executor (pip install 'lineage[spark]', docs/scale.md)")


def test_java_missing_is_one_line_exit_2(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    p = _lineage(["snapshot", "data", "--engine", "spark"], root, {"JAVA_HOME": str(tmp_path / "nojava")})
    assert _one_error_line(p) == (f"error: the Spark engine needs Java 17 or later "
                                  f"(JAVA_HOME={tmp_path / 'nojava'} has no bin/java)")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    p = subprocess.run([sys.executable, "-m", "lineage", "snapshot", "data", "--engine", "spark"],
                       cwd=root, capture_output=True, text=True, env={**env, "PATH": str(empty)})
    assert _one_error_line(p) == ("error: the Spark engine needs Java 17 or later "
                                  "(no java on the PATH, JAVA_HOME not set)")


def test_unreachable_master_is_one_line_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = _repo(tmp_path)
    (root / "pyproject.toml").write_text(
        f'[tool.lineage.engine]\nengine = "spark"\nmaster = "spark://127.0.0.1:{port}"\n')
    (root / "t.csv").write_text("a\n1\n")
    assert _lineage(["snapshot", "t.csv"], root).returncode == 0  # no Parquet file: never contacted
    p = _lineage(["snapshot", "data"], root, {"LINEAGE_SPARK_CONNECT_TIMEOUT": "1"})
    assert _one_error_line(p) == f"error: cannot reach the Spark master at spark://127.0.0.1:{port} within 1 s"


def test_missing_pyspark_on_the_command_line_names_the_extra(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    code = ("import sys; sys.modules['pyspark'] = None\n"  # as if lineage[spark] were absent
            "from lineage.cli.app import run; sys.argv = ['lineage', 'snapshot', 'data', '--engine', 'spark']\n"
            "run()")
    p = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert p.stderr.strip().splitlines() == ["error: the Spark engine is not installed: pip install 'lineage[spark]'"]
    assert p.returncode == 2


@pytest.mark.parametrize("setting, message", [
    ('engine = "spark"\nscheduler = "tcp://127.0.0.1:8786"', "a scheduler is for the Dask engine, not Spark"),
    ('engine = "spark"\nmaster = 3', "master in [tool.lineage.engine] must be a Spark master URL"),
    ('engine = "spark"\nconf = "spark.executor.memory=4g"', "conf in [tool.lineage.engine] must be a table"),
    ('engine = "spark"\nconf = { "spark.x" = [1] }', "conf.'spark.x' in [tool.lineage.engine] must be"),
])
def test_bad_spark_settings_are_one_line_exit_2(cli: Any, workdir: Path, setting: str, message: str) -> None:
    (workdir / "pyproject.toml").write_text(f"[tool.lineage.engine]\n{setting}\n")
    (workdir / "t.csv").write_text("a\n1\n")
    r = cli("snapshot", "t.csv")
    assert r.code == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr


def test_scheduler_with_engine_spark_is_refused(cli: Any, workdir: Path) -> None:
    r = cli("snapshot", "x", "--engine", "spark", "--scheduler", "tcp://127.0.0.1:8786")
    assert r.code == 2 and r.stderr.strip().splitlines() == [
        "error: a scheduler is for the Dask engine, not Spark, in --engine/--scheduler (Spark's is master)"]
