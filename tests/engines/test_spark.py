"""``lineage.spark`` on a real SparkSession in ``local[2]`` mode: the same fingerprint
values as the local pass, row by row, and the same snapshot; clear errors when Spark
cannot be used."""

from __future__ import annotations

import io
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
