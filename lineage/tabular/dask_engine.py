"""The Dask engine: the kernel runs on the workers of a Dask cluster, per Parquet split.

The workers read the data themselves (fsspec and pyarrow); the client plans each file
from its footer, cuts it into splits at its row groups (each split starts on a multiple
of the local batch size, so its batches are exactly the batches the local pass reads),
and merges the results in file and split order through the same ``compute.FileSink``
as the local pass: the fingerprint files, profiles and rows keys are the local ones,
byte for byte. Files of other formats are read by the client (docs/scale.md).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lineage.errors import EngineError, TabularReadError
from lineage.tabular import kernel, sources
from lineage.tabular.engines import EngineChoice
from lineage.tabular.limits import Limits, check_rows
from lineage.tabular.readers import BATCH_ROWS, READ_BUFFER

#: Seconds to reach a scheduler and to see its first worker (``LINEAGE_DASK_CONNECT_TIMEOUT``).
CONNECT_TIMEOUT = 10.0


def connect_timeout() -> float:
    try:
        return max(0.5, float(os.environ.get("LINEAGE_DASK_CONNECT_TIMEOUT", CONNECT_TIMEOUT)))
    except ValueError:
        return CONNECT_TIMEOUT
#: Splits in flight per worker thread: enough to keep the cluster busy while the client
#: merges, few enough that the results waiting for the client stay small.
WINDOW_PER_THREAD = 2
INSTALL_HINT = "pip install 'lineage[dask]'"

# A worker that cannot import lineage must fail inside the call, not while unpickling the
# function: the probe is a builtin (pickled by name) given a fixed text.
_PROBE = "__import__('lineage.tabular.kernel', fromlist=['scheme_id']).scheme_id()"


@dataclass
class Session:
    client: Any
    cluster: Any = None
    threads: int = 1

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(choice: EngineChoice) -> Session:
    """A client of ``choice.scheduler`` (or of a new local cluster of processes) whose
    workers all compute this process's fingerprint scheme; ``EngineError`` otherwise."""
    try:
        import distributed
    except ImportError:
        raise EngineError(f"the Dask engine is not installed: {INSTALL_HINT}") from None
    cluster = None
    timeout = connect_timeout()
    if choice.scheduler:
        try:
            client = distributed.Client(choice.scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError):
            raise EngineError(f"cannot reach the Dask scheduler at {choice.scheduler} "
                              f"within {timeout:g} s") from None
        except ValueError as exc:
            raise EngineError(f"not a Dask scheduler address: {choice.scheduler} ({exc})") from None
    else:
        cluster = distributed.LocalCluster(processes=True, host="127.0.0.1", dashboard_address=None)
        client = distributed.Client(cluster, set_as_default=False)
    session = Session(client, cluster)
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise EngineError(f"the Dask scheduler at {choice.scheduler or 'a local cluster'} has no workers "
                              f"(none joined within {timeout:g} s)") from None
        try:
            schemes = client.run(eval, _PROBE)
        except ImportError:
            raise EngineError(f"a Dask worker cannot import lineage; install it on every worker "
                              f"({INSTALL_HINT})") from None
        mine = kernel.scheme_id()
        for worker, theirs in sorted(schemes.items()):
            if theirs != mine:
                raise EngineError(f"the Dask worker {worker} computes {theirs!r}, this client "
                                  f"{mine!r}; install the same lineage on the workers")
        session.threads = max(1, sum(client.nthreads().values()))
    except BaseException:
        session.close()
        raise
    return session


# -- on the workers -------------------------------------------------------------------------

def _open(path: str, storage: dict[str, Any] | None = None):
    # ``storage``: the options of a by-reference source (``lineage.tabular.sources``)
    return sources.open_url(path, storage)


def plan_file(path: str, display: str,
              storage: dict[str, Any] | None = None) -> tuple[Any, list[int]] | TabularReadError:
    """The schema and the row counts of the row groups of a Parquet file (from its footer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lineage.tabular.readers import _short

    try:
        with _open(path, storage) as fh:
            if fh.size == 0:
                return TabularReadError(f"{display}: the file is empty")
            meta = pq.ParquetFile(fh).metadata
            return meta.schema.to_arrow_schema(), [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except (pa.ArrowException, OSError, ValueError) as exc:
        return TabularReadError(f"{display}: not a readable Parquet file ({_short(exc)})")


def run_split(path: str, display: str, plan: kernel.Plan, groups: list[int], skip: int,
              start: int, stop: int, storage: dict[str, Any] | None = None
              ) -> list[kernel.BatchResult] | TabularReadError:
    """The kernel over rows ``start``..``stop`` of the file, in batches of ``BATCH_ROWS``
    counted from ``start`` (the local pass's batches), read from row groups ``groups``
    whose first ``skip`` rows come before ``start``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lineage.tabular.readers import _short

    out: list[kernel.BatchResult] = []
    pos = start
    try:
        with _open(path, storage) as fh:
            pf = pq.ParquetFile(fh, pre_buffer=False, buffer_size=READ_BUFFER)
            held: list[Any] = []
            for batch in _rebatch(pf.iter_batches(batch_size=BATCH_ROWS, row_groups=groups), skip,
                                  stop - start, held):
                if list(batch.schema.names) != plan.names:
                    return TabularReadError(f"{display}: the columns change part-way through the file")
                try:
                    out.append(kernel.batch_pass(batch, plan, pos))
                except (pa.ArrowException, ArithmeticError, TypeError, ValueError) as exc:
                    error = kernel.cannot_fingerprint(exc, display)
                    assert error is not None
                    return error
                pos += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        return TabularReadError(f"{display}: corrupt Parquet data ({_short(exc)})")
    return out


def _rebatch(batches: Iterator[Any], skip: int, rows: int, held: list[Any]) -> Iterator[Any]:
    """``rows`` rows after the first ``skip`` of ``batches``, in batches of ``BATCH_ROWS``."""
    import pyarrow as pa

    buffered = 0
    for b in batches:
        if skip:
            if b.num_rows <= skip:
                skip -= b.num_rows
                continue
            b, skip = b.slice(skip), 0
        held.append(b)
        buffered += b.num_rows
        while held and buffered >= min(BATCH_ROWS, rows):
            want = min(BATCH_ROWS, rows)
            whole = pa.concat_batches(held) if len(held) > 1 else held[0]
            yield whole.slice(0, want) if want < whole.num_rows else whole
            rows -= want
            buffered -= want
            held[:] = [whole.slice(want)] if buffered else []
            if rows == 0:
                return


# -- on the client ----------------------------------------------------------------------------

def splits(row_groups: list[int]) -> list[tuple[list[int], int, int, int]]:
    """``(row groups, skip, start, stop)`` of each split of a file: one per row group, its
    start moved up to the next multiple of ``BATCH_ROWS`` (so its batches are the local
    pass's); row groups that start no batch join the split before them."""
    offsets = [0]
    for n in row_groups:
        offsets.append(offsets[-1] + n)
    total = offsets[-1]
    bounds = sorted({min(total, -(-o // BATCH_ROWS) * BATCH_ROWS) for o in offsets[:-1]} | {total})
    out = []
    for start, stop in zip(bounds, bounds[1:]):
        groups = [i for i, n in enumerate(row_groups) if n and offsets[i] < stop and offsets[i] + n > start]
        out.append((groups, start - offsets[groups[0]], start, stop))
    return out


def accept_plans(files: list[tuple[str, str]], plans: list[Any], declarations: dict[str, str],
                 limits: Limits) -> tuple[dict[int, kernel.Plan], dict[int, list[int]], dict[int, BaseException]]:
    """From the footers ``plan_file`` read, by file index in file order: the kernel plan and
    row-group sizes of each file to compute, and the error to record for the others (an
    unreadable file, too many rows, columns that cannot be fingerprinted)."""
    kernels: dict[int, kernel.Plan] = {}
    groups: dict[int, list[int]] = {}
    problems: dict[int, BaseException] = {}
    for i, ((display, _), planned) in enumerate(zip(files, plans)):
        if isinstance(planned, TabularReadError):
            problems[i] = planned
            continue
        schema, row_groups = planned
        try:
            check_rows(limits, display, sum(row_groups))
            kernel.check_columns(schema, display)
        except TabularReadError as exc:
            problems[i] = exc
            continue
        kernels[i] = kernel.plan_for(schema, declarations)
        groups[i] = row_groups
    return kernels, groups, problems


def compute_files(session: Session, files: list[tuple[str, str]], declarations: dict[str, str],
                  limits: Limits, sink: Callable[[str], Any]) -> Iterator[tuple[str, Any]]:
    """``(display, FileMetadata or the TabularReadError to record)`` of each Parquet file
    ``(display, path)``, in order (a ``LimitExceeded`` for a file over a limit); ``sink``
    gives the writer of one file's results (``compute.FileSink``)."""
    client = session.client
    storage = sources.options()  # None for local files
    plans = client.gather(client.map(plan_file, [p for _, p in files], [d for d, _ in files], storage=storage,
                                     pure=False))
    kernels, groups, problems = accept_plans(files, plans, declarations, limits)
    jobs = [(i, split) for i in kernels for split in splits(groups[i])]  # every split, in order
    window = WINDOW_PER_THREAD * session.threads
    queue: deque[tuple[int, Any]] = deque()
    nxt = 0

    def refill() -> None:
        nonlocal nxt
        while nxt < len(jobs) and len(queue) < window:
            i, (groups, skip, start, stop) = jobs[nxt]
            display, path = files[i]
            queue.append((i, client.submit(run_split, path, display, kernels[i], groups, skip, start,
                                           stop, storage, pure=False)))
            nxt += 1

    with_rows = {i for i, _ in jobs}
    refill()
    for i, (display, path) in enumerate(files):
        if i in problems:
            yield display, problems[i]
            continue
        out = sink(display)
        if i in with_rows:
            out.open(kernel.plan_for(kernels[i].schema, declarations))  # else no rows: no batch
        failure: BaseException | None = None
        try:
            while queue and queue[0][0] == i:
                _, future = queue.popleft()
                results = future.result()
                refill()
                if failure is not None:
                    continue
                if isinstance(results, TabularReadError):
                    failure = results
                    out.discard()
                    continue
                for r in results:
                    out.add(r)
        except BaseException as exc:
            out.discard()
            while queue and queue[0][0] == i:
                queue.popleft()[1].cancel()
            refill()
            if not isinstance(exc, TabularReadError):
                raise
            failure = exc  # a limit crossed while writing: this file only
        if failure is not None:
            yield display, failure
            continue
        yield display, out.close("parquet", kernels[i].schema)

