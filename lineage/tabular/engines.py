"""Which engine runs the tabular kernel (``lineage.tabular.kernel``) of a snapshot.

``local`` (the default) reads and hashes in this process, on threads; ``dask`` sends
the Parquet files' row groups to a Dask cluster (``lineage.tabular.dask_engine``);
``spark`` to the executors of a SparkSession (``lineage.interop.spark``, which registers
it here: ``register``). The choice comes from ``--engine``/``--scheduler`` (``using``),
else from ``[tool.lineage.engine]`` in pyproject.toml::

    [tool.lineage.engine]
    engine = "dask"
    scheduler = "tcp://10.0.0.5:8786"   # none: a local cluster of worker processes

    [tool.lineage.engine]
    engine = "spark"
    master = "spark://10.0.0.5:7077"    # none: the active SparkSession, else local[*]
    conf = { "spark.executor.memory" = "4g" }
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from lineage import config as _config
from lineage.errors import ConfigError, EngineError, UsageError

ENGINES = ("local", "dask", "spark")


@dataclass(frozen=True)
class EngineChoice:
    name: str = "local"
    scheduler: str | None = None
    master: str | None = None  # Spark's master URL
    conf: tuple[tuple[str, str], ...] = ()  # Spark configuration, sorted (key, value) pairs


_GIVEN: ContextVar[EngineChoice | None] = ContextVar("lineage_engine", default=None)


def _check(name: str | None, scheduler: str | None, source: str, error: type[Exception]) -> None:
    if name is not None and name not in ENGINES:
        raise error(f"unknown engine {name!r} in {source} (one of: {', '.join(ENGINES)})")
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise error(f"the scheduler in {source} must be an address like tcp://HOST:PORT, not {scheduler!r}")
    if name == "spark" and scheduler is not None:
        raise error(f"a scheduler is for the Dask engine, not Spark, in {source} (Spark's is master)")


def _spark_settings(section: dict[str, Any]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The ``master`` and ``conf`` of ``[tool.lineage.engine]``, checked."""
    where = "[tool.lineage.engine]"
    master = section.get("master")
    if master is not None and (not isinstance(master, str) or not master.strip()):
        raise ConfigError(f"master in {where} must be a Spark master URL like local[2] or spark://HOST:PORT")
    conf = section.get("conf", {})
    if not isinstance(conf, dict):
        raise ConfigError(f"conf in {where} must be a table of Spark settings")
    pairs = []
    for key, value in conf.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, (str, int, float)):
            raise ConfigError(f"conf.{key!r} in {where} must be a string, number or boolean")
        pairs.append((key, str(value)))
    return master, tuple(sorted(pairs))


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


#: Engines provided by a feature above this package: name -> ``connect(choice)``, which
#: returns a session with ``compute_files(files, declarations, limits, sink)`` and ``close()``.
_CONNECTORS: dict[str, Callable[[EngineChoice], Any]] = {}


def register(name: str, connect: Callable[[EngineChoice], Any]) -> None:
    """Provide the engine ``name`` (one of ``ENGINES``) through ``connect``."""
    _CONNECTORS[name] = connect


def connect(choice: EngineChoice) -> Any:
    """A session of the registered engine ``choice.name`` (``EngineError`` if none is)."""
    try:
        connector = _CONNECTORS[choice.name]
    except KeyError:
        raise EngineError(f"the {choice.name} engine is not available in this process") from None
    return connector(choice)


def chosen(repo: Any) -> EngineChoice:
    """The engine for a snapshot in ``repo``: the one given to ``using``, else the
    repository's ``[tool.lineage.engine]``, else local."""
    section = _config.pyproject_settings(repo.root).get("engine", {})
    if not isinstance(section, dict):
        raise ConfigError("[tool.lineage.engine] in pyproject.toml must be a table")
    _check(section.get("engine"), section.get("scheduler"), "[tool.lineage.engine]", ConfigError)
    given = _GIVEN.get()
    # --scheduler alone means Dask, over a configured engine
    name = given.name if given and given.name else "dask" if given and given.scheduler else section.get("engine")
    scheduler = given.scheduler if given and given.scheduler else section.get("scheduler")
    if name is None:
        name = "dask" if scheduler else "local"
    if name == "spark":
        master, conf = _spark_settings(section)
        return EngineChoice(name, None, master, conf)
    return EngineChoice(name, scheduler if name == "dask" else None)
