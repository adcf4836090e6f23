"""The event-log engine: content-addressed events, the SQLite graph they fold into,
numbered migrations, and the registries features plug their projectors, migrations
and reference providers into. It knows no feature."""

from lineage.log.events import Event
from lineage.log.graph import Graph

__all__ = ["Event", "Graph"]
