"""The snapshot hook of tabular: schema, profiles and row fingerprints of each new table.

Registered with ``lineage.snapshots.hooks`` when ``lineage.tabular`` is imported;
snapshots never imports tabular. Each ``tabular.file`` event is appended in the
snapshot's transaction, before its ``snapshot`` event.
"""

from __future__ import annotations

from lineage.core.progress import Progress
from lineage.log import Graph
from lineage.repo import Repo
from lineage.snapshots import hooks
from lineage.tabular import queries as gtab

EVENT_TYPE = "tabular.file"


@hooks.register
def on_snapshot(repo: Repo, files: list[tuple[str, str, str]], declarations: dict[str, str],
                progress: Progress | None) -> hooks.Contribution:
    """Metadata of the tabular files among ``files`` not yet recorded (others are skipped)."""
    # readers, fingerprints and profiles load only when a snapshot is taken: the log
    # imports this module with its projector on every open, hooks included
    from lineage.tabular import compute

    outcome = compute.process(repo, files, declarations, progress=progress)
    return hooks.Contribution([(EVENT_TYPE, body) for body in outcome.events], outcome.warnings,
                              still_needed=_not_recorded, columns=outcome.columns)


def _not_recorded(graph: Graph, event: hooks.Addition) -> bool:
    """A concurrent snapshot may have recorded the same file's metadata meanwhile."""
    _, body = event
    return gtab.record(graph, body["digest"], int(body["scheme"]), body.get("declarations") or {}) is None
