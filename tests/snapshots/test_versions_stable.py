"""Version numbers follow the order records arrived in this clone; rebuild keeps them."""

from __future__ import annotations

from conftest import write_tree
from lineage import snapshots
from lineage.log.integrity import check_projections
from lineage.snapshots import queries


def test_versions_recorded_in_the_event_and_kept_by_rebuild(repo, workdir):
    ids = []
    for i in range(3):
        write_tree(workdir, {"d/a.txt": str(i)})
        r = snapshots.create(repo, workdir / "d")
        assert r.version == i + 1
        assert repo.graph.event(r.event_id).body["version"] == i + 1
        ids.append(r.id)
    repo.graph.rebuild()
    assert [queries.snapshot_at_version(repo.graph, "d", v) for v in (1, 2, 3)] == ids
    assert check_projections(repo.graph) == []
    # unchanged content records no new version
    assert snapshots.create(repo, workdir / "d").unchanged
    assert queries.dataset(repo.graph, "d").latest_version == 3
