"""Golden IDs: fixed inputs give these IDs on every machine and in every version.

A snapshot ID or an event ID that changes silently re-names every dataset and breaks
every clone's history, so a change here must be a deliberate new format version.
"""

from __future__ import annotations

from conftest import write_tree
from lineage import snapshots
from lineage.log.events import Event
from lineage.snapshots.manifest import Entry, Manifest

FOLDER = "b6fd0d50ede8bac8e507e985a1e89e6c0906491f1053007499ad6c08c4f2b98f"
FILE = "64ed3650c052b7ce6c0d3364edb850afcd5e9cd7276034b0439f5d92ec206fe2"
EVENT = "cf145218dc1d101d0d014b5e285a93789db21c5cfeb4284f44026a5b2817cf12"


def test_manifest_ids_are_pinned():
    folder = Manifest.build("folder", [Entry("b/c.csv", 3, "ab" * 32, False),
                                       Entry("a.txt", 0, "cd" * 32, True)])
    assert folder.id == FOLDER
    assert Manifest.decode(folder.encode()).id == FOLDER
    assert Manifest.build("file", [Entry("x.parquet", 10, "ef" * 32, False)]).id == FILE


def test_event_ids_are_pinned():
    ev = Event.create("snapshot", {"dataset": "d", "snapshot_id": FOLDER, "version": 1},
                      actor="A <a@b>", parents=("11" * 32, "00" * 32), time="2026-01-02T03:04:05.000000Z")
    assert ev.id == EVENT


def test_snapshot_of_fixed_bytes_is_pinned(repo, workdir):
    write_tree(workdir / "data", {"train.csv": "x,y\n1,0\n2,1\n", "notes/readme.txt": "hello\n"})
    result = snapshots.create(repo, workdir / "data", name="data")
    assert result.id == "329223f4a0f60e1bf523e6dc6a407656ebb29fad6996945e6458e34a0e1e258e"
