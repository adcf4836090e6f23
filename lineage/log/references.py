"""Which objects the graph still needs: the one answer garbage collection trusts.

Every kind of object the graph points at registers a provider with
``@reference_provider``: snapshots (manifests and their files) here, and other
modules add theirs (derived objects such as fingerprint files). What a recorded run
used or wrote is a snapshot, so it is kept as one.

    >>> referenced_digests(repo.graph)          # doctest: +SKIP
    {'3f2a...', ...}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lineage.log import registry as projections
from lineage.log.graph import Graph

Provider = Callable[[Graph], Iterable[str]]


_PROVIDERS: dict[str, Provider] = {}


def reference_provider(name: str) -> Callable[[Provider], Provider]:
    """Register ``fn(graph) -> digests`` as a source of objects that must be kept."""
    def register(fn: Provider) -> Provider:
        _PROVIDERS[name] = fn
        return fn

    return register


def providers() -> list[str]:
    return sorted(_PROVIDERS)


def referenced_digests(graph: Graph) -> set[str]:
    """Every object digest some event of the log still references."""
    projections.load()  # the features register their providers when loaded
    out: set[str] = set()
    for fn in _PROVIDERS.values():
        out.update(fn(graph))
    return out


@reference_provider("snapshots")
def _snapshot_objects(graph: Graph) -> Iterable[str]:
    """Manifests (the snapshot IDs) and the file contents of every snapshot in the log."""
    yield from (r[0] for r in graph.conn.execute("SELECT id FROM snapshots"))
    yield from (r[0] for r in graph.conn.execute("SELECT DISTINCT digest FROM files"))
