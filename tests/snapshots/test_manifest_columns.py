"""A snapshot builds its manifest as columns and writes its event body in the manifest's
own buffer: the manifest bytes, the snapshot ID, the event row and the event ID are
exactly those of the plain construction (sorting ``Entry`` tuples, ``_body_json``)."""

from __future__ import annotations

import json
import os

import blake3
import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.log.events import Event
from lineage.runs.projector import content_key
from lineage.core.hashing import hash_bytes
from lineage.snapshots import add
from lineage.snapshots.manifest import Entry, Manifest, PackedEntries

# names whose folders' runs interleave in manifest order ("a.txt" < "a/b" < "a0"), non-ASCII
# names (sorted by their UTF-8 bytes), a NUL-free but otherwise odd name, an executable file
INTERLEAVED = {"a.txt": "1", "a/b.txt": "2", "a/c/d.bin": "3", "a0.txt": "4", "b": "5",
               "é/x": "6", "z/\u00ff": "7", "z/y": "8", "sp ace/q\"uote": "9"}
APART = {f"d{i}/f{j}.bin": f"{i}-{j}" for i in range(3) for j in range(5)}


def _plain(root, files: dict[str, str], exe: set[str] = frozenset()) -> Manifest:
    entries = [Entry(p, len(v.encode()), blake3.blake3(v.encode()).hexdigest(), p in exe)
               for p, v in files.items()]
    return Manifest.build("folder", entries, [])


@pytest.mark.parametrize(("files", "merged"), [(INTERLEAVED, True), (APART, False)],
                         ids=["interleaved", "apart"])
def test_snapshot_manifest_and_event_are_the_plain_ones(repo, workdir, monkeypatch, files, merged):
    root = write_tree(workdir / "data", files)
    if "b" in files:
        os.chmod(root / "b", 0o755)
    merges = []
    real_merge = add.heapq.merge
    monkeypatch.setattr(add.heapq, "merge", lambda *runs: merges.append(1) or real_merge(*runs))
    result = snapshots.create(repo, root, name="data")
    # folders whose files interleave are merged; folders apart are laid end to end
    assert bool(merges) is merged
    expected = _plain(root, files, {"b"} if "b" in files else set())
    encoded = expected.encode()
    assert result.id == blake3.blake3(encoded).hexdigest()
    assert repo.store.read_bytes(result.id) == encoded
    # the event row is the canonical body with the manifest embedded, and its ID checks out
    row = repo.graph.conn.execute("SELECT id, type, time, actor, parents, body FROM events "
                                  "WHERE type = 'snapshot'").fetchone()
    ev = Event(row[1], row[2], row[3], tuple(json.loads(row[4])), json.loads(row[5]))
    assert ev.compute_id() == row[0] == result.event_id
    body = json.loads(row[5])
    assert body["manifest"] == expected.to_dict()
    assert row[5] == add._body_json({k: v for k, v in body.items() if k != "manifest"},
                                    encoded.decode("utf-8"))
    # projected rows are the manifest's
    rows = repo.graph.conn.execute("SELECT path, size, digest, executable FROM files "
                                   "WHERE snapshot_id = ?", (result.id,)).fetchall()
    assert sorted(rows) == sorted((e.path, e.size, e.digest, int(e.executable)) for e in expected.entries)


def test_a_known_snapshot_records_no_manifest_again(repo, workdir):
    root = write_tree(workdir / "data", APART)
    first = snapshots.create(repo, root, name="one")
    second = snapshots.create(repo, root, name="two")
    assert second.id == first.id and not second.unchanged
    body = json.loads(repo.graph.conn.execute(
        "SELECT body FROM events WHERE id = ?", (second.event_id,)).fetchone()[0])
    assert "manifest" not in body and body["dataset"] == "two"


def test_packed_entries_read_as_entries():
    plain = [Entry("a", 1, "ab" * 32, False), Entry("b/é", 2, "cd" * 32, True), Entry("c", 0, "ef" * 32)]
    packed = PackedEntries.of(plain)
    assert len(packed) == 3 and list(packed) == plain
    assert packed[1] == plain[1] and packed[-1] == plain[-1] and packed[0:2] == plain[0:2]
    with pytest.raises(IndexError):
        packed[3]
    m = Manifest("folder", packed)  # type: ignore[arg-type]
    assert m.encode() == Manifest("folder", tuple(plain)).encode() and m.total_size == 3


def test_packed_entries_paths_are_checked():
    from lineage.errors import LineageError

    with pytest.raises(LineageError):
        Manifest("folder", PackedEntries.of([Entry("../x", 1, "ab" * 32)]))  # type: ignore[arg-type]


def test_body_text_is_body_json_and_empties_the_buffer():
    manifest = Manifest.build("folder", [Entry("é.txt", 1, "ab" * 32)])
    body = {"dataset": "d", "git": {"commit": None}, "host": "h", "message": "m\x00", "version": 1,
            "external": True, "zz": [1]}
    buf = bytearray(manifest.encode())
    assert add._body_text(body, buf) == add._body_json(body, manifest.encode_text())
    assert buf == bytearray()


def test_content_key_is_the_hash_of_the_sorted_digests():
    digests = [blake3.blake3(str(i).encode()).hexdigest() for i in range(20_000)]
    assert content_key(iter(digests)) == hash_bytes("\n".join(sorted(digests)).encode())
    assert content_key(digests[:3]) == hash_bytes("\n".join(sorted(digests[:3])).encode())
    assert content_key([]) == hash_bytes(b"")
