"""Fixtures for the reliability suite: real processes killed at named points.

``tests/reliability`` is a package so this conftest does not shadow ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

import s3_server

# Fuzz budgets: a quick pass in `make test`, a long one in `make soak`
# (HYPOTHESIS_PROFILE=soak). Tests leave max_examples to the profile.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("soak", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def s3():
    """One SeaweedFS server per test session (per xdist worker)."""
    server = s3_server.start()
    yield server
    server.stop()


def lineage_proc(args: list[str], cwd: Path, *, fault: str | None = None,
                 env: dict[str, str] | None = None, timeout: float = 120,
                 ) -> subprocess.CompletedProcess[str]:
    """Run ``lineage ARGS`` as a real process; with ``fault``, it SIGKILLs itself at
    that kill point (see ``lineage.core.faults``)."""
    full = {**os.environ, **(env or {})}
    full.pop("LINEAGE_FAULT", None)
    if fault:
        full["LINEAGE_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)


def killed(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == -9
