"""Snapshot hooks: what other features add to a snapshot, without snapshots knowing them.

A hook runs after a snapshot's files are hashed and stored and before its ``snapshot``
event is appended. It returns the events to append in the same transaction (before
the ``snapshot`` event) and warnings for the user. ``lineage.tabular`` registers one
(schemas, profiles, row fingerprints); a plug-in registers the same way::

    @hooks.register
    def my_hook(repo, files, declarations, progress) -> hooks.Contribution: ...

``files`` lists ``(path in the repository, absolute path, digest)`` of every file.
Built-in hooks are registered when their feature module is imported; ``run`` first has
the log's registry import every built-in feature module, so the hooks are in place
whichever entry point (CLI, API, a script calling ``snapshots.create``) got here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lineage.core.progress import Progress
from lineage.log import Graph
from lineage.log import registry as _features
from lineage.repo import Repo

#: ``(event type, body)`` of one event a hook adds to a snapshot.
Addition = tuple[str, dict[str, Any]]


@dataclass
class Contribution:
    """What one hook adds to a snapshot.

    ``still_needed(graph, event)`` is asked again under the write lock when another
    process changed the dataset meanwhile, so an event that process already recorded
    is not appended twice (None: every event is kept).
    """

    events: list[Addition] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    still_needed: Callable[[Graph, Addition], bool] | None = None
    #: the column names of each table the hook read (path in the repository -> names), so
    #: a snapshot can refuse a declared column that no table has
    columns: dict[str, list[str]] = field(default_factory=dict)


class SnapshotHook(Protocol):
    def __call__(self, repo: Repo, files: list[tuple[str, str, str]], declarations: dict[str, str],
                 progress: Progress | None) -> Contribution: ...


_HOOKS: list[SnapshotHook] = []


def register(hook: SnapshotHook) -> SnapshotHook:
    """Add ``hook`` to every snapshot (registering the same function twice is a no-op)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def registered() -> list[SnapshotHook]:
    _features.load()  # importing the built-in feature modules registers their hooks
    return list(_HOOKS)


def run(repo: Repo, files: list[tuple[str, str, str]], declarations: dict[str, str],
        progress: Progress | None = None) -> list[Contribution]:
    """Every registered hook's contribution to one snapshot, in registration order."""
    return [hook(repo, files, declarations, progress) for hook in registered()]


def refresh(graph: Graph, contributions: list[Contribution]) -> None:
    """Drop the events that are no longer needed (called under the write lock)."""
    for c in contributions:
        if c.still_needed is not None:
            c.events[:] = [e for e in c.events if c.still_needed(graph, e)]


def events(contributions: list[Contribution]) -> list[Addition]:
    return [e for c in contributions for e in c.events]


def warnings(contributions: list[Contribution]) -> list[str]:
    return [w for c in contributions for w in c.warnings]


def columns(contributions: list[Contribution]) -> dict[str, list[str]]:
    return {path: names for c in contributions for path, names in c.columns.items()}
