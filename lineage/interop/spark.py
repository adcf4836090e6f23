"""Spark: the tabular kernel (``lineage.tabular.kernel``) on the executors of a SparkSession.

``fingerprint(df)`` runs the kernel per Arrow batch through ``DataFrame.mapInArrow`` and
returns the row fingerprints as a DataFrame (the columns and values of the fingerprint
table a snapshot stores). ``snapshot(path)`` records a snapshot as ``lineage snapshot``
does, its Parquet files read and hashed by the executors (the same splits, at row-group
bounds, as the Dask engine), their results merged in file order on the driver through
``compute.FileSink``: the derived objects, and so the snapshot, are the local ones.
``snapshot(df)`` writes the DataFrame as Parquet to a folder of the repository first.
Executors need lineage installed (docs/scale.md); the first use of a session checks that
they compute this process's fingerprint scheme.

    >>> from lineage import spark as lspark                              # doctest: +SKIP
    >>> lspark.fingerprint(spark.read.parquet("s3a://lake/train"), label_column="y")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lineage.errors import EngineError, TabularReadError, UsageError

INSTALL_HINT = "pip install 'lineage[spark]'"
#: The folder of the repository that ``snapshot(df)`` writes DataFrames to (one folder per name).
DATAFRAME_FOLDER = "spark-tables"
# An executor that cannot import lineage must fail inside the task, not while unpickling
# the function: the probe is a builtin (pickled by name) given a fixed text.
_PROBE = "__import__('lineage.tabular.kernel', fromlist=['scheme_id']).scheme_id()"
_CHECKED: set[str] = set()  # the application ids whose executors passed the scheme check


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise EngineError(f"the Spark engine is not installed: {INSTALL_HINT}") from None
    return pyspark.sql


def _session(spark: Any) -> Any:
    sql = _pyspark()
    session = spark or sql.SparkSession.getActiveSession()
    if session is None:
        raise EngineError("no active SparkSession: create one (SparkSession.builder.getOrCreate()) "
                          "or pass spark=")
    return session


def check_executors(spark: Any = None) -> None:
    """Refuse (``EngineError``) a session whose executors lack lineage or compute another
    fingerprint scheme than this process; run once per Spark application."""
    from lineage.tabular import kernel

    session = _session(spark)
    sc = session.sparkContext
    if sc.applicationId in _CHECKED:
        return
    n = max(1, sc.defaultParallelism)
    try:
        schemes = set(sc.parallelize([_PROBE] * n, n).map(eval).collect())
    except Exception as exc:  # Py4JJavaError or PythonException, with the executor's traceback
        if "ModuleNotFoundError" in str(exc) or "ImportError" in str(exc):
            raise EngineError(f"a Spark executor cannot import lineage; install it on every executor "
                              f"({INSTALL_HINT}, docs/scale.md)") from None
        raise
    mine = kernel.scheme_id()
    other = sorted(s for s in schemes if s != mine)
    if other:
        raise EngineError(f"a Spark executor computes {other[0]!r}, this driver {mine!r}; "
                          "install the same lineage on the executors")
    _CHECKED.add(sc.applicationId)


# -- fingerprint(df) ----------------------------------------------------------------------------

def _spark_type(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_fixed_size_binary(t) or pa.types.is_binary(t):
        return "binary"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return "string"


def _declarations(label_column: str | None, group_column: str | None,
                  time_column: str | None) -> dict[str, str]:
    given = {"label": label_column, "group": group_column, "time": time_column}
    return {k: v for k, v in given.items() if v}


def fingerprint(df: Any, *, label_column: str | None = None, group_column: str | None = None,
                time_column: str | None = None) -> Any:
    """The row fingerprints of ``df``, a DataFrame with the columns of a snapshot's
    fingerprint table (``row``, ``fp``, ``fp_features``, ``group``, ``time``, ``label``,
    and ``fp_near``/``fp_near_shift``/``fp_data`` where the columns call for them),
    computed on the executors, one row per row of ``df`` in its order. ``row`` numbers
    the rows from 0 across partitions (a first job counts each partition's rows)."""
    sql = _pyspark()
    from pyspark.sql.pandas.types import to_arrow_schema

    from lineage.tabular import kernel

    check_executors(df.sparkSession)
    decl = _declarations(label_column, group_column, time_column)
    arrow_schema = to_arrow_schema(df.schema, timezone="UTC")  # the column types; executors plan from their batches
    kernel.check_columns(arrow_schema, "the DataFrame")
    plan = kernel.plan_for(arrow_schema, decl)
    if plan.notes:
        raise UsageError(plan.notes[0])
    out = plan.fschema
    ddl = ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in out)

    def count(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa
        from pyspark import TaskContext

        n = sum(b.num_rows for b in batches)
        yield pa.record_batch({"p": pa.array([TaskContext.get().partitionId()], pa.int64()),
                               "n": pa.array([n], pa.int64())})

    counts = dict(df.mapInArrow(count, "p long, n long").collect())
    offsets, total = {}, 0
    for p in sorted(counts):
        offsets[p], total = total, total + counts[p]

    def hash_batches(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa
        from pyspark import TaskContext

        pos = offsets.get(TaskContext.get().partitionId(), 0)
        mine = None
        for batch in batches:
            if mine is None:
                mine = kernel.plan_for(batch.schema, decl)
            fps = kernel.batch_pass(batch, mine, pos, minhash=False).fingerprints
            pos += batch.num_rows
            cols = [c.cast(pa.binary()) if pa.types.is_fixed_size_binary(c.type) else c for c in fps.columns]
            yield pa.record_batch(cols, names=fps.schema.names)

    result = df.mapInArrow(hash_batches, ddl)
    assert isinstance(result, sql.DataFrame)
    return result


# -- snapshot(path or df) -------------------------------------------------------------------------

class _Runner:
    """The engine ``compute.process`` hands a snapshot's Parquet files to
    (``lineage.tabular.engines.running_on``): one Spark job per file, one task per split."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def compute_files(self, files: list[tuple[str, str]], declarations: dict[str, str], limits: Any,
                      sink: Callable[[str], Any]) -> Iterator[tuple[str, Any]]:
        from lineage.tabular import dask_engine, kernel
        from lineage.tabular.limits import check_rows

        sc = self.session.sparkContext
        plan_file = dask_engine.plan_file
        args = [(p, d) for d, p in files]
        plans = sc.parallelize(args, max(1, len(args))).map(lambda a: plan_file(*a)).collect()
        for (display, path), planned in zip(files, plans):
            if isinstance(planned, TabularReadError):
                yield display, planned
                continue
            schema, row_groups = planned
            try:
                check_rows(limits, display, sum(row_groups))
                kernel.check_columns(schema, display)
            except TabularReadError as exc:
                yield display, exc
                continue
            plan = kernel.plan_for(schema, declarations)
            jobs = dask_engine.splits(row_groups)
            out = sink(display)
            try:
                if jobs:
                    out.open(kernel.plan_for(schema, declarations))
                    run = dask_engine.run_split
                    tasks = [(path, display, plan, *job) for job in jobs]
                    for results in (sc.parallelize(tasks, len(tasks)).map(lambda a: run(*a))
                                    .toLocalIterator(prefetchPartitions=True)):
                        if isinstance(results, TabularReadError):
                            raise results
                        for r in results:
                            out.add(r)
            except TabularReadError as exc:
                out.discard()
                yield display, exc
                continue
            except BaseException:
                out.discard()
                raise
            yield display, out.close("parquet", schema)


def _write_dataframe(df: Any, repo: Any, name: str) -> Path:
    """``df`` as Parquet in ``DATAFRAME_FOLDER/<name>`` of ``repo`` (replaced), without
    Spark's ``_SUCCESS`` marker and checksum files."""
    if not name or "/" in name or name.startswith(".") or "@" in name:
        raise UsageError(f"invalid dataset name {name!r} for a DataFrame (a plain name: it names the folder)")
    target = Path(repo.root) / DATAFRAME_FOLDER / name
    df.write.mode("overwrite").parquet(target.as_uri())
    for p in list(target.rglob("*")):
        if p.is_file() and (p.name == "_SUCCESS" or (p.name.startswith(".") and p.name.endswith(".crc"))):
            p.unlink()
    if not any(target.rglob("*.parquet")):  # an empty DataFrame can leave no part file
        shutil.rmtree(target, ignore_errors=True)
        raise UsageError(f"the DataFrame for {name!r} wrote no Parquet file")
    return target


def snapshot(df_or_path: Any, *, name: str | None = None, repo: Any = None, spark: Any = None,
             **options: Any) -> Any:
    """Snapshot a path (a Parquet file or folder; other formats are read on the driver) or
    a DataFrame, as ``lineage.snapshot`` does (``name``, ``label_column``, ``group_column``,
    ``time_column``, ``text_column``, ``message``, ...), the Parquet files fingerprinted
    and profiled on the executors of ``spark`` (default: the active session). A DataFrame
    is first written to ``spark-tables/<name>/`` of the repository (``name`` required);
    the driver must see that folder. Returns the ``SnapshotResult``."""
    from lineage import snapshots
    from lineage.repo import Repo
    from lineage.tabular import engines

    session = _session(spark)
    check_executors(session)
    if repo is None:
        with Repo.find() as found:
            return snapshot(df_or_path, name=name, repo=found, spark=session, **options)
    if isinstance(df_or_path, (str, os.PathLike)):
        path = Path(df_or_path)
    else:
        if not name:
            raise UsageError("snapshot of a DataFrame needs name= (the folder it is written to)")
        path = _write_dataframe(df_or_path, repo, name)
    with engines.running_on(_Runner(session)):
        return snapshots.create(repo, path, name=name, **options)
