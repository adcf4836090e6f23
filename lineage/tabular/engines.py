"""Which engine runs the tabular kernel (``lineage.tabular.kernel``) of a snapshot.

``local`` (the default) reads and hashes in this process, on threads; ``dask`` sends
the Parquet files' row groups to a Dask cluster (``lineage.tabular.dask_engine``). The
choice comes from ``--engine``/``--scheduler`` (``using``), else from
``[tool.lineage.engine]`` in pyproject.toml::

    [tool.lineage.engine]
    engine = "dask"
    scheduler = "tcp://10.0.0.5:8786"   # none: a local cluster of worker processes
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from lineage import config as _config
from lineage.errors import ConfigError, UsageError

ENGINES = ("local", "dask")


@dataclass(frozen=True)
class EngineChoice:
    name: str = "local"
    scheduler: str | None = None


_GIVEN: ContextVar[EngineChoice | None] = ContextVar("lineage_engine", default=None)


def _check(name: str | None, scheduler: str | None, source: str, error: type[Exception]) -> None:
    if name is not None and name not in ENGINES:
        raise error(f"unknown engine {name!r} in {source} (one of: {', '.join(ENGINES)})")
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise error(f"the scheduler in {source} must be an address like tcp://HOST:PORT, not {scheduler!r}")


@contextmanager
def using(engine: str | None = None, scheduler: str | None = None) -> Iterator[None]:
    """Run the snapshots inside the block on ``engine`` (over the repository's setting);
    a scheduler alone means Dask."""
    _check(engine, scheduler, "--engine/--scheduler", UsageError)
    token = _GIVEN.set(EngineChoice(engine, scheduler) if engine or scheduler else None)  # type: ignore[arg-type]
    try:
        yield
    finally:
        _GIVEN.reset(token)


#: An engine given by a library caller (``lineage.spark``): an object with
#: ``compute_files(files, declarations, limits, sink)`` (as ``dask_engine.compute_files``
#: without the session), used over any ``--engine`` or repository setting.
_RUNNER: ContextVar[Any] = ContextVar("lineage_engine_runner", default=None)


@contextmanager
def running_on(runner: Any) -> Iterator[None]:
    """Run the snapshots inside the block's Parquet files through ``runner``."""
    token = _RUNNER.set(runner)
    try:
        yield
    finally:
        _RUNNER.reset(token)


def runner() -> Any:
    """The engine given to ``running_on``, or None."""
    return _RUNNER.get()


def chosen(repo: Any) -> EngineChoice:
    """The engine for a snapshot in ``repo``: the one given to ``using``, else the
    repository's ``[tool.lineage.engine]``, else local."""
    section = _config.pyproject_settings(repo.root).get("engine", {})
    if not isinstance(section, dict):
        raise ConfigError("[tool.lineage.engine] in pyproject.toml must be a table")
    _check(section.get("engine"), section.get("scheduler"), "[tool.lineage.engine]", ConfigError)
    given = _GIVEN.get()
    name = given.name if given and given.name else section.get("engine")
    scheduler = given.scheduler if given and given.scheduler else section.get("scheduler")
    if name is None:
        name = "dask" if scheduler else "local"
    return EngineChoice(name, scheduler if name == "dask" else None)
