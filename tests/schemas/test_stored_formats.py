"""The formats lineage stores (manifests, tabular.file event bodies) match their schemas,
and the schemas refuse what the readers refuse."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import validate, write_tree
from lineage import snapshots
from lineage.snapshots.manifest import Manifest


def test_stored_manifests_match_the_schema(repo, workdir):
    write_tree(workdir / "data", {"a.csv": "x,y\n1,2\n", "sub/b.bin": b"\x00\x01", "c:d.txt": "colon"})
    (workdir / "data" / "empty").mkdir()
    folder = snapshots.create(repo, workdir / "data", name="data")
    single = snapshots.create(repo, workdir / "data" / "a.csv", name="a")
    for sid in (folder.id, single.id):
        doc = json.loads(repo.store.read_bytes(sid))
        validate(doc, "manifest.schema.json")
        assert Manifest.decode(repo.store.read_bytes(sid)).id == sid


@pytest.mark.parametrize("bad", [
    {"format": "lineage.manifest/1", "kind": "folder", "files": [{"path": "../x", "size": 1, "digest": "0" * 64}]},
    {"format": "lineage.manifest/1", "kind": "folder", "files": [{"path": "/etc/x", "size": 1, "digest": "0" * 64}]},
    {"format": "lineage.manifest/1", "kind": "folder", "files": [{"path": ".git/hooks/x", "size": 1, "digest": "0" * 64}]},
    {"format": "lineage.manifest/2", "kind": "folder", "files": []},
    {"format": "lineage.manifest/1", "kind": "folder", "files": [{"path": "a", "size": -1, "digest": "0" * 64}]},
])
def test_the_schema_refuses_unsafe_or_malformed_manifests(bad):
    with pytest.raises(jsonschema.ValidationError):
        validate(bad, "manifest.schema.json")


def test_tabular_file_event_bodies_match_the_schema(repo, workdir):
    rows = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(50))
    write_tree(workdir / "data", {"t.csv": "id,x,y\n" + rows, "notes.txt": "not a table"})
    snapshots.create(repo, workdir / "data", name="t", label_column="y")
    bodies = [ev.body for ev in repo.graph.events(types=["tabular.file"])]
    assert bodies
    for body in bodies:
        validate(body, "tabular-file-event.schema.json")
