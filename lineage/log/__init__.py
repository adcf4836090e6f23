"""The event-log engine: content-addressed events, the SQLite graph they fold into,
numbered migrations, and the registries features plug their projectors, migrations
and reference providers into. It knows no feature."""

from lineage.core.lazy import exports as _exports

__all__ = ["Event", "Graph"]

# imported on first use (PEP 562): ``lineage`` installs the features' loaders through
# ``lineage.log.registry`` and ``lineage.log.migrations`` at start-up, before any graph
__getattr__, __dir__ = _exports(__name__, {"Event": "lineage.log.events", "Graph": "lineage.log.graph"})
