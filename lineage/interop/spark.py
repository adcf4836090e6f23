"""Spark: the tabular kernel (``lineage.tabular.kernel``) on the executors of a SparkSession.

``fingerprint(df)`` runs the kernel per Arrow batch through ``DataFrame.mapInArrow`` and
returns the row fingerprints as a DataFrame (the columns and values of the fingerprint
table a snapshot stores). ``snapshot(path)`` records a snapshot as ``lineage snapshot``
does, its Parquet files read and hashed by the executors (the same splits, at row-group
bounds, as the Dask engine), their results merged in file order on the driver through
``compute.FileSink``: the derived objects, and so the snapshot, are the local ones.
``snapshot(df)`` writes the DataFrame as Parquet to a folder of the repository first.
``lineage snapshot --engine spark`` runs the same way (``connect``: the active session, else
one started from ``[tool.lineage.engine]``). Executors need lineage installed
(docs/scale.md); the first use of a session checks that they compute this process's
fingerprint scheme.

    >>> from lineage import spark as lspark                              # doctest: +SKIP
    >>> lspark.fingerprint(spark.read.parquet("s3a://lake/train"), label_column="y")
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lineage.errors import EngineError, TabularReadError, UsageError
from lineage.tabular import engines

INSTALL_HINT = "pip install 'lineage[spark]'"
#: Batches (of ``readers.BATCH_ROWS`` rows) per Spark task of a snapshot. A task's results
#: reach the driver whole (about 10 MB a batch for 10 columns), so a task covers a piece
#: of a row group, not the whole of it: a default driver (1g) holds a few pieces at once.
TASK_BATCHES = 4
#: Pieces computed at once, one Spark job each: the session's default parallelism, at
#: least two (one computed while the driver writes the other), at most this many.
MAX_IN_FLIGHT = 8
#: Seconds to reach a ``spark://`` master before starting a session (``LINEAGE_SPARK_CONNECT_TIMEOUT``).
CONNECT_TIMEOUT = 10.0
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

def pieces(row_groups: list[int], batches: int | None = None) -> list[tuple[list[int], int, int, int]]:
    """``(row groups, skip, start, stop)`` of each Spark task of a file: the Dask engine's
    splits (``dask_engine.splits``) cut into pieces of at most ``batches`` batches, each
    starting on a batch bound, so the batches are still the local pass's. A piece that
    starts inside a row group reads and skips that group's rows before it."""
    from lineage.tabular import dask_engine
    from lineage.tabular.readers import BATCH_ROWS

    offsets = [0]
    for n in row_groups:
        offsets.append(offsets[-1] + n)
    step = max(1, batches or TASK_BATCHES) * BATCH_ROWS
    out = []
    for _, _, start, stop in dask_engine.splits(row_groups):
        for lo in range(start, stop, step):
            hi = min(stop, lo + step)
            groups = [i for i, n in enumerate(row_groups) if n and offsets[i] < hi and offsets[i] + n > lo]
            out.append((groups, lo - offsets[groups[0]], lo, hi))
    return out


def _run_piece(args: tuple[Any, ...]) -> list[Any]:
    """On an executor: the kernel's results of one piece, one element per batch (or the
    ``TabularReadError`` of the file)."""
    from lineage.tabular import dask_engine

    results = dask_engine.run_split(*args)
    return [results] if isinstance(results, TabularReadError) else results


class _Runner:
    """The engine ``compute.process`` hands a snapshot's Parquet files to
    (``lineage.tabular.engines.running_on``): one task per piece of at most
    ``TASK_BATCHES`` batches, one Spark job per task, a window of them in flight across
    the files, their results written in file order."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def close(self) -> None:
        """Nothing: the session is the caller's."""

    def compute_files(self, files: list[tuple[str, str]], declarations: dict[str, str], limits: Any,
                      sink: Callable[[str], Any]) -> Iterator[tuple[str, Any]]:
        from concurrent.futures import ThreadPoolExecutor

        from lineage.tabular import dask_engine, kernel

        sc = self.session.sparkContext
        plan_file = dask_engine.plan_file
        args = [(p, d) for d, p in files]
        plans = sc.parallelize(args, max(1, len(args))).map(lambda a: plan_file(*a)).collect()
        kernels, groups, problems = dask_engine.accept_plans(files, plans, declarations, limits)
        tasks: list[tuple[Any, ...]] = []  # the arguments of every piece of every file, in order
        owner: list[int] = []  # the file of each task
        for i in kernels:
            display, path = files[i]
            for piece in pieces(groups[i]):
                tasks.append((path, display, kernels[i], *piece))
                owner.append(i)
        window = min(MAX_IN_FLIGHT, max(2, sc.defaultParallelism))
        rdd = sc.parallelize(tasks, len(tasks)).flatMap(_run_piece) if tasks else None
        pool = ThreadPoolExecutor(window, thread_name_prefix="lineage-spark")
        queue: deque[tuple[int, Any]] = deque()
        nxt = 0

        def refill() -> None:
            nonlocal nxt
            while nxt < len(tasks) and len(queue) < window:
                queue.append((owner[nxt], pool.submit(sc.runJob, rdd, iter, [nxt])))
                nxt += 1

        try:
            refill()
            for i, (display, path) in enumerate(files):
                if i in problems:
                    yield display, problems[i]
                    continue
                out = sink(display)
                if queue and queue[0][0] == i:
                    out.open(kernel.plan_for(kernels[i].schema, declarations))  # else no rows: no batch
                failure: BaseException | None = None
                try:
                    while queue and queue[0][0] == i:
                        results = queue.popleft()[1].result()
                        refill()
                        for r in results if failure is None else ():
                            if isinstance(r, TabularReadError):
                                failure = r
                                out.discard()
                                break
                            out.add(r)
                except TabularReadError as exc:  # a limit crossed while writing: this file only
                    out.discard()
                    failure = exc
                    while queue and queue[0][0] == i:
                        queue.popleft()[1].cancel()
                    refill()
                except BaseException:
                    out.discard()
                    raise
                if failure is not None:
                    yield display, failure
                    continue
                yield display, out.close("parquet", kernels[i].schema)
        finally:
            for _, future in queue:
                future.cancel()
            pool.shutdown(wait=True)  # the jobs already running end on their own


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


# -- lineage snapshot --engine spark ----------------------------------------------------------

def connect_timeout() -> float:
    try:
        return max(0.5, float(os.environ.get("LINEAGE_SPARK_CONNECT_TIMEOUT", CONNECT_TIMEOUT)))
    except ValueError:
        return CONNECT_TIMEOUT


def _check_java() -> None:
    """Refuse before starting a JVM that cannot start: Spark runs ``$JAVA_HOME/bin/java``,
    else ``java`` of the ``PATH``."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on the PATH, JAVA_HOME not set"
        raise EngineError(f"the Spark engine needs Java 17 or later ({where})")


def _check_master(master: str) -> None:
    """Refuse a ``spark://`` master none of whose addresses accepts a connection within
    the connect timeout (Spark itself would retry for a minute, then stop the session)."""
    if not master.startswith("spark://"):
        return
    timeout = connect_timeout()
    for address in master[len("spark://"):].split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
                return
        except (OSError, ValueError):
            continue
    raise EngineError(f"cannot reach the Spark master at {master} within {timeout:g} s")


def _short(exc: BaseException) -> str:
    """The first line of an error that may carry a Java stack trace."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class _EngineSession(_Runner):
    """A SparkSession for ``lineage snapshot --engine spark``; one lineage started is
    stopped when the snapshot's table pass ends."""

    def __init__(self, session: Any, owned: bool) -> None:
        super().__init__(session)
        self.owned = owned

    def close(self) -> None:
        if self.owned:
            self.session.stop()


def connect(choice: engines.EngineChoice) -> _EngineSession:
    """The Spark engine of ``choice``: the active SparkSession of this process (a Spark
    application), else one started with ``choice.master`` (default ``local[*]``) and
    ``choice.conf``; its executors checked (``check_executors``). A local session runs
    its Python workers with this interpreter unless ``PYSPARK_PYTHON`` or
    ``spark.pyspark.python`` says otherwise."""
    sql = _pyspark()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        check_executors(active)
        return _EngineSession(active, owned=False)
    _check_java()
    master = choice.master or "local[*]"
    _check_master(master)
    conf = dict(choice.conf)
    local = master.startswith("local")
    # quiet: the snapshot reports its own errors in one line (conf spark.log.level to see Spark's)
    defaults = {"spark.app.name": "lineage", "spark.ui.enabled": "false", "spark.log.level": "OFF",
                "spark.ui.showConsoleProgress": "false"}
    if local:  # driver and executors are this machine: no network name needed
        defaults.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
    builder = sql.SparkSession.builder.master(master)
    for key, value in {**defaults, **conf}.items():
        builder = builder.config(key, value)
    # read once, when the SparkContext starts: the executors' Python, and (local) the
    # address the JVM announces, so it does not warn that the host name is a loopback one
    env = {"PYSPARK_PYTHON": conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON")
           or (sys.executable if local else None),
           "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP") or ("127.0.0.1" if local else None)}
    saved = {k: os.environ.get(k) for k in env}
    try:
        os.environ.update({k: v for k, v in env.items() if v})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark's about the pandas version
            session = builder.getOrCreate()
    except Exception as exc:  # PySparkRuntimeError, Py4JJavaError: the JVM or the master refused
        raise EngineError(f"Spark could not start a session on {master}: {_short(exc)}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        check_executors(session)
    except BaseException:
        session.stop()
        raise
    return _EngineSession(session, owned=True)


engines.register("spark", connect)
