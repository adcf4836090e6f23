"""Fixtures of the engine tests: a real Dask cluster on 127.0.0.1 (a scheduler and two
worker processes) and a real SeaweedFS S3 server, each started once per test session.

``tests/engines`` is a package so this conftest does not shadow ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import s3_server


# -- a real Dask cluster on 127.0.0.1: one scheduler and two worker processes, started once
# per test process (under pytest-xdist, each xdist worker that runs these tests has its own)


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the worker processes it spawned too
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address (tcp://127.0.0.1:PORT) of a scheduler with two single-threaded worker processes."""
    import json

    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    sfile = tmp / "scheduler.json"
    scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(sfile)], tmp / "scheduler.log")
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not sfile.exists() or not sfile.read_text().strip():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Dask scheduler did not start: {(tmp / 'scheduler.log').read_text()[-2000:]}")
            time.sleep(0.1)
        address = json.loads(sfile.read_text())["address"]
        workers = _start(["worker", "--scheduler-file", str(sfile), "--nworkers", "2", "--nthreads", "1",
                          "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp)],
                         tmp / "workers.log")
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        if workers is not None:
            _stop(workers)
        _stop(scheduler)


@pytest.fixture(scope="session")
def s3():
    """One SeaweedFS server per test session (per xdist worker)."""
    server = s3_server.start()
    yield server
    server.stop()
