"""Snapshot of a large Parquet table on each engine: local, Dask (2 workers), Spark local[2].

The table is the one of table_snapshot.py (10 columns: 6 float64, 1 int64, 3 strings),
20M rows by default, written in slices of 1M rows, so it has one row group per slice.
Each engine snapshots it in a fresh repository (the file hard-linked into it), one after
the other, in one run, and the three snapshot IDs must be identical:

- local: ``lineage snapshot data --engine local`` in a child process;
- dask: ``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` started here on
  127.0.0.1, then ``lineage snapshot data --engine dask --scheduler tcp://...``; the
  cluster is started before the timer;
- spark: a child process that starts a ``local[2]`` SparkSession (not timed) and calls
  ``lineage.spark.snapshot``.

Peak memory is VmHWM (the peak resident set) of each process: the ``lineage`` client (from
``wait4``), the scheduler and each Dask worker (read from /proc while they run), the Spark
driver's Python, its JVM (driver and executor in one process in local mode) and the
largest of its Python workers (read by the child before it stops the session).

    .venv/bin/python benchmarks/engines.py [--rows 20000000] [--keep /tmp/t.parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import git_init, tool  # noqa: E402
from table_snapshot import write_table  # noqa: E402

SPARK = """
import json, os, sys, time
os.environ["PYSPARK_PYTHON"] = sys.executable

def hwm(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0

def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ppid = int(open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for c in children.get(pid, []):
            out.append(c)
            todo.append(c)
    return out

t0 = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").appName("lineage-bench")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.memory", sys.argv[1]).getOrCreate())
import lineage
from lineage import spark as lspark
lspark.check_executors(spark)
start = time.perf_counter() - t0
t0, c0 = time.perf_counter(), time.process_time()
with lineage.open(".") as repo:
    result = lspark.snapshot("data", name="t", repo=repo, spark=spark)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
me = os.getpid()
procs = {}
for pid in descendants(me):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        continue
    procs[pid] = (comm, hwm(pid))
jvm = max((m for c, m in procs.values() if c == "java"), default=0.0)
workers = sorted((m for c, m in procs.values() if c.startswith("python")), reverse=True)
print(json.dumps({"id": result.id, "seconds": seconds, "driver_cpu": cpu, "session_start": start,
                  "driver_py_mb": hwm(me), "jvm_mb": jvm, "py_workers_mb": workers}))
spark.stop()
"""


def hwm(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_repo(root: Path, table: Path) -> Path:
    git_init(root)
    subprocess.run([tool("lineage"), "init"], cwd=root, check=True, capture_output=True)
    (root / "data").mkdir()
    os.link(table, root / "data" / "t.parquet")
    return root


def run_child(cmd: list[str], cwd: Path) -> tuple[dict, float, float, float]:
    """Run ``cmd`` (JSON on stdout); wall seconds, CPU seconds and peak RSS of the child."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # read the pipes on threads so wait4 can reap the child itself and give its rusage
    import threading

    bufs: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda k=k, f=f: bufs.__setitem__(k, f.read()))
               for k, f in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{bufs['err'].decode()[-3000:]}")
    return (json.loads(bufs["out"]), seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def snapshot_cmd(*extra: str) -> list[str]:
    return [tool("lineage"), "snapshot", "data", "--name", "t", "--json", *extra]


def run_local(root: Path) -> dict:
    out, seconds, cpu, peak = run_child(snapshot_cmd("--engine", "local"), root)
    return {"id": out["id"], "seconds": seconds, "cpu": cpu, "mem": {"client": peak}}


def run_dask(root: Path, workers: int) -> dict:
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = tool("dask")
    logs = root.parent / "dask-logs"
    logs.mkdir(exist_ok=True)
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL,
                                 stderr=open(logs / "scheduler.log", "w"))
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                               "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
                              stdout=subprocess.DEVNULL, stderr=open(logs / "worker.log", "w"))
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            pids = client.run(os.getpid)
            out, seconds, cpu, peak = run_child(snapshot_cmd("--engine", "dask", "--scheduler", address), root)
            mem = {"client": peak, "scheduler": hwm(scheduler.pid)}
            for i, pid in enumerate(sorted(pids.values())):
                mem[f"worker{i + 1}"] = hwm(pid)
        return {"id": out["id"], "seconds": seconds, "cpu": cpu, "mem": mem}
    finally:
        for p in (worker, scheduler):
            p.terminate()
        for p in (worker, scheduler):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_spark(root: Path, memory: str) -> dict:
    out, _, _, _ = run_child([sys.executable, "-c", SPARK, memory], root)
    mem = {"driver (python)": out["driver_py_mb"], "driver+executor (JVM)": out["jvm_mb"]}
    for i, m in enumerate(out["py_workers_mb"]):
        mem[f"python worker{i + 1}"] = m
    return {"id": out["id"], "seconds": out["seconds"], "cpu": out["driver_cpu"], "mem": mem,
            "session_start": out["session_start"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--keep", help="write the table here (or reuse it if it exists)")
    ap.add_argument("--engines", default="local,dask,spark", help="comma-separated subset")
    ap.add_argument("--spark-driver-memory", default="4g",
                    help="spark.driver.memory (Spark's default, 1g, is enough since tasks are pieces of 4 batches)")
    args = ap.parse_args()
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "table.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            write_table(path, args.rows)
            print(f"wrote {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        rows, groups = meta.num_rows, meta.num_row_groups
        size = path.stat().st_size
        results: dict[str, dict] = {}
        for name in engines:
            root = fresh_repo(Path(tmp) / name, path)
            print(f"{name} ...", file=sys.stderr, flush=True)
            runner = {"local": run_local, "dask": lambda r: run_dask(r, 2),
                      "spark": lambda r: run_spark(r, args.spark_driver_memory)}[name]
            results[name] = runner(root)
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
        ids = {r["id"] for r in results.values()}
    print(f"{rows:,} rows x 10 columns, {groups} row groups, {size / 2**20:.0f} MiB "
          f"of Parquet; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    for name, r in results.items():
        extra = f", session start {r['session_start']:.1f} s (not timed)" if "session_start" in r else ""
        print(f"\n{name}: {r['seconds']:.1f} s, {rows / r['seconds'] / 1e6:.2f}M rows/s, "
              f"client/driver CPU {r['cpu']:.1f} s{extra}")
        for proc, mb in r["mem"].items():
            print(f"  peak RSS {proc:24} {mb:7.0f} MB")
    same = len(ids) == 1
    print(f"\nsnapshot IDs identical: {same} ({', '.join(sorted(ids))})")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
