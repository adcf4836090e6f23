"""Which objects the graph still needs: the one answer garbage collection trusts.

Every kind of object the graph points at registers a provider with
``@reference_provider``: snapshots (manifests and their files) here, and other
modules add theirs (derived objects such as fingerprint files, run outputs). A
provider marked ``run_data=True`` protects what a recorded run used; ``gc`` drops
that protection only when asked explicitly.

    >>> referenced_digests(repo.graph)          # doctest: +SKIP
    {'3f2a...', ...}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lineage.log import Graph

Provider = Callable[[Graph], Iterable[str]]


@dataclass(frozen=True)
class _Registered:
    name: str
    fn: Provider
    run_data: bool


_PROVIDERS: dict[str, _Registered] = {}


def reference_provider(name: str, *, run_data: bool = False) -> Callable[[Provider], Provider]:
    """Register ``fn(graph) -> digests`` as a source of objects that must be kept."""
    def register(fn: Provider) -> Provider:
        _PROVIDERS[name] = _Registered(name, fn, run_data)
        return fn

    return register


def providers() -> list[str]:
    return sorted(_PROVIDERS)


def referenced_digests(graph: Graph, *, include_run_data: bool = True) -> set[str]:
    """Every object digest some event of the log still references."""
    from lineage.log import registry as projections

    projections.load()  # modules listed there may register providers too
    out: set[str] = set()
    for reg in _PROVIDERS.values():
        if reg.run_data and not include_run_data:
            continue
        out.update(reg.fn(graph))
    return out


@reference_provider("snapshots")
def _snapshot_objects(graph: Graph) -> Iterable[str]:
    """Manifests (the snapshot IDs) and the file contents of every snapshot in the log."""
    yield from (r[0] for r in graph.conn.execute("SELECT id FROM snapshots"))
    yield from (r[0] for r in graph.conn.execute("SELECT DISTINCT digest FROM files"))
