"""When new objects reach the disk: the journal of deferred writes, its settling in this
boot, and what happens to its objects after a machine stop (a journal whose boot is not
this one). A machine stop is made the way one looks to the next process: the journal's
boot is another, and objects whose pages never reached the disk come back damaged."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from lineage.core.hashing import hash_bytes
from lineage.store import ObjectStore
from lineage.store import durability as dur
from lineage.store import objects as objects_mod
from lineage.store.durability import Durability

pytestmark = pytest.mark.skipif(dur.boot_id() is None, reason="the kernel names no boot here")

BIG = 2 << 20  # loose objects: over the pack limit
OTHER_BOOT = "00000000-0000-0000-0000-000000000000"


def _store(root: Path, durability: Durability | None = Durability.deferred) -> ObjectStore:
    s = ObjectStore(root, durability=durability)
    s.ensure()
    return s


def _journals(store: ObjectStore) -> list[Path]:
    folder = store.root / "unflushed"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _listed(path: Path) -> tuple[dict, list[str], list[str]]:
    lines = path.read_text().splitlines()
    objects = [d for line in lines[1:] for d in json.loads(line)["objects"]]
    packs = [p for line in lines[1:] for p in json.loads(line)["packs"]]
    return json.loads(lines[0]), objects, packs


def _write_some(store: ObjectStore, tmp_path: Path) -> dict[str, bytes]:
    """Two loose objects (files) and three packed ones, in one batch."""
    data = {}
    with store.batch() as batch:
        for i in range(2):
            body = os.urandom(BIG)
            src = tmp_path / f"big{i}.bin"
            src.write_bytes(body)
            data[batch.hash_and_put_file(str(src))] = body
        for i in range(3):
            body = f"small {i}\n".encode() * 50
            d = hash_bytes(body)
            batch.put_bytes(body, d)
            data[d] = body
    return data


def _as_if_the_machine_stopped(journal: Path) -> None:
    """The next boot's view of a journal: written under another boot ID."""
    lines = journal.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["boot"] = OTHER_BOOT
    journal.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def _damage(path: Path, offset: int = 0, length: int = 4096) -> None:
    """Zeros where the bytes were (what a file whose pages never reached the disk holds)."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\0" * length)


@pytest.fixture
def synced(monkeypatch):
    """Every path flushed with fsync, and every syncfs, in order."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(objects_mod, "_syncfs", lambda path: seen.append(f"syncfs:{path}"))
    monkeypatch.setattr(dur, "syncfs", lambda path: seen.append(f"syncfs:{path}"))
    return seen


def test_deferred_batch_journals_its_objects_and_flushes_nothing_else(tmp_path, synced):
    store = _store(tmp_path / "store")
    assert store.durability is Durability.deferred
    data = _write_some(store, tmp_path)
    [journal] = _journals(store)
    header, objects, packs = _listed(journal)
    assert header["boot"] == dur.boot_id() and header["pid"] == os.getpid()
    loose = {d for d in data if len(data[d]) >= BIG}
    assert set(objects) == loose
    assert len(packs) == 1 and (store.packs_dir / f"{packs[0]}.idx").exists()
    # the only things flushed: the journal and its folder
    assert synced and all(p.startswith(str(store.root / "unflushed")) for p in synced), synced
    for d, body in data.items():
        assert store.read_bytes(d) == body


def test_the_journal_is_on_disk_before_any_object_is_visible(tmp_path, monkeypatch):
    store = _store(tmp_path / "store")
    real = dur.Journal.record
    seen = []

    def record(self, objects=(), packs=()):
        objects, packs = list(objects), list(packs)
        seen.append([store.exists(d) for d in objects] + [(store.packs_dir / f"{p}.idx").exists() for p in packs])
        real(self, objects, packs)

    monkeypatch.setattr(dur.Journal, "record", record)
    _write_some(store, tmp_path)
    store.put_bytes(b"a manifest")
    assert seen and all(not any(visible) for visible in seen)
    assert len(_listed(_journals(store)[0])[1]) == 3  # two files, one manifest-like put


def test_immediate_flushes_before_renaming_and_keeps_no_journal(tmp_path, synced):
    store = _store(tmp_path / "store", Durability.immediate)
    data = _write_some(store, tmp_path)
    assert not _journals(store)
    # the pack and its index, then the two loose temporaries (few: one fsync each), all
    # before they were renamed; then the folders they were renamed into
    assert synced[0].endswith(".tmp") and synced[1].endswith(".idx")
    assert sum(p.endswith(".tmp") for p in synced) == 3
    for d, body in data.items():
        assert store.read_bytes(d) == body


def test_gc_repacking_flushes_even_when_deferred(tmp_path, synced):
    store = _store(tmp_path / "store")
    data = _write_some(store, tmp_path)
    store.close()
    packed = [d for d in data if len(data[d]) < BIG]
    first = _listed(_journals(store)[0])[2]
    synced.clear()
    store.remove([packed[0]])
    # the new pack was flushed before the old one went, and named in no journal
    assert synced[0].endswith(".tmp") and synced[1].endswith(".idx")
    assert [p for j in _journals(store) for p in _listed(j)[2]] == first
    assert not store.exists(packed[0])
    assert [store.read_bytes(d) for d in packed[1:]] == [data[d] for d in packed[1:]]


def test_this_boots_journal_is_kept_while_fresh_or_held_and_then_flushed(tmp_path, synced):
    store = _store(tmp_path / "store")
    data = _write_some(store, tmp_path)
    [journal] = _journals(store)
    _age(journal, 3600)
    other = ObjectStore(store.root)  # settling does not depend on the reader's durability
    assert other.settle().flushed == 0 and journal.exists()  # its writer still holds it
    store.close()
    _age(journal, 10)
    assert other.settle().flushed == 0 and journal.exists()  # too fresh: the kernel is still writing
    _age(journal, dur.SETTLE_AFTER + 5)
    synced.clear()
    assert other.settle().flushed == 1
    assert not journal.exists()
    flushed = {Path(p).name for p in synced}
    assert {d[2:] for d in data if len(data[d]) >= BIG} <= flushed  # each object fsynced
    assert all(other.read_bytes(d) == body for d, body in data.items())


def test_after_a_machine_stop_damaged_objects_are_removed_and_the_rest_kept(tmp_path):
    store = _store(tmp_path / "store")
    data = _write_some(store, tmp_path)
    store.close()
    [journal] = _journals(store)
    _as_if_the_machine_stopped(journal)
    loose = sorted(d for d in data if len(data[d]) >= BIG)
    packed = [d for d in data if d not in loose]
    _damage(store.path(loose[0]), offset=BIG // 2)
    [pack] = store.packs()
    off, _ = pack.find(bytes.fromhex(packed[1]))
    pack.close()
    _damage(pack.pack_path, offset=off, length=8)

    after = ObjectStore(store.root)
    found = after.settle()
    assert found.recovered == 1 and found.checked == 3
    assert found.damaged == [loose[0]] and found.damaged_packed == [packed[1]]
    message = found.message()
    assert "2 object(s)" in message and "came back damaged" in message
    assert not journal.exists()
    assert not after.exists(loose[0]) and not after.exists(packed[1])
    for d in (loose[1], packed[0], packed[2]):  # good objects survive, the pack's rewritten
        assert after.read_bytes(d) == data[d]
    assert not pack.idx_path.exists()
    assert after.settle().recovered == 0  # once


def test_a_pack_whose_index_came_back_unreadable_is_removed_whole(tmp_path):
    store = _store(tmp_path / "store")
    data = _write_some(store, tmp_path)
    store.close()
    _as_if_the_machine_stopped(_journals(store)[0])
    [pack] = store.packs()
    pack.close()
    os.chmod(pack.idx_path, 0o644)
    pack.idx_path.write_bytes(b"")  # an index that never reached the disk
    after = ObjectStore(store.root)
    found = after.settle()
    assert found.unreadable_packs == 1 and "1 pack(s)" in found.message()
    assert after.packs() == []  # the store opens: nothing left that cannot be read
    assert all(after.read_bytes(d) == b for d, b in data.items() if len(b) >= BIG)


def test_an_intact_store_after_a_restart_is_checked_once_and_silent(tmp_path):
    store = _store(tmp_path / "store")
    _write_some(store, tmp_path)
    store.close()
    _as_if_the_machine_stopped(_journals(store)[0])
    found = ObjectStore(store.root).settle()
    assert found.recovered == 1 and found.checked == 3 and found.message() is None
    assert not _journals(store)


def test_torn_lines_name_nothing_and_torn_journals_go(tmp_path):
    store = _store(tmp_path / "store")
    folder = store.root / "unflushed"
    folder.mkdir()
    good = store.put_bytes(b"kept", sync=False)
    header = {"boot": "11111111-0000-0000-0000-000000000000", "host": socket.gethostname(),
              "pid": 1, "started": 0}
    torn = folder / "11111111-0000-0000-0000-000000000000-1-aaaa.jsonl"
    torn.write_text(json.dumps(header) + "\n" + json.dumps({"objects": [good], "packs": []})
                    + "\n" + '{"objects": ["' + "f" * 20)
    half = folder / "11111111-0000-0000-0000-000000000000-2-bbbb.jsonl"
    half.write_text('{"boot": "1111')  # the first write never finished: nothing renamed in
    found = store.settle()
    assert found.recovered == 1 and found.checked == 1 and not found.damaged
    assert not torn.exists() and not half.exists()
    assert store.read_bytes(good) == b"kept"


def test_another_hosts_journal_is_left_alone(tmp_path):
    store = _store(tmp_path / "store")
    d = store.put_bytes(b"theirs", sync=False)
    folder = store.root / "unflushed"
    folder.mkdir()
    theirs = folder / "22222222-0000-0000-0000-000000000000-1-cccc.jsonl"
    theirs.write_text(json.dumps({"boot": "22222222-0000-0000-0000-000000000000", "host": "elsewhere",
                                  "pid": 1, "started": 0}) + "\n"
                      + json.dumps({"objects": [d], "packs": []}) + "\n")
    _damage(store.path(d), length=3)
    found = store.settle()
    assert found.recovered == 0 and theirs.exists() and store.path(d).exists()


def test_a_download_is_journaled_or_flushed(tmp_path, synced):
    for mode in (Durability.deferred, Durability.immediate):
        store = _store(tmp_path / mode.value, mode)
        tmp = store._tmp_path()
        tmp.write_bytes(b"downloaded" * 1000)
        digest = hash_bytes(b"downloaded" * 1000)
        synced.clear()
        store.install_downloaded(tmp, digest)
        assert store.read_bytes(digest) == b"downloaded" * 1000
        if mode is Durability.deferred:
            assert _listed(_journals(store)[0])[1] == [digest]
            assert all("unflushed" in p for p in synced)
        else:
            assert not _journals(store) and synced[0].endswith(".tmp")
        store.close()


def test_immediate_is_the_default_and_deferred_needs_a_boot_id(monkeypatch, tmp_path):
    assert ObjectStore(tmp_path / "s").durability is Durability.immediate
    assert ObjectStore(tmp_path / "s", durability=Durability.deferred).durability is Durability.deferred
    monkeypatch.setattr(dur, "_boot", [None])
    assert ObjectStore(tmp_path / "s", durability=Durability.deferred).durability is Durability.immediate


def test_a_long_journal_is_flushed_by_one_syncfs(tmp_path, synced):
    store = _store(tmp_path / "store")
    digests = [store.put_bytes(f"object {i}".encode()) for i in range(dur._FSYNC_EACH_MAX + 1)]
    store.close()
    [journal] = _journals(store)
    assert _listed(journal)[1] == digests  # one record a put, in order
    _age(journal, dur.SETTLE_AFTER + 5)
    synced.clear()
    assert ObjectStore(store.root).settle().flushed == 1
    assert synced == [f"syncfs:{store.objects}"]


def test_a_record_that_fails_leaves_the_next_one_in_a_new_journal(tmp_path, monkeypatch):
    store = _store(tmp_path / "store")
    first = store.put_bytes(b"first")
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        store.put_bytes(b"not stored")
    assert not store.exists(hash_bytes(b"not stored"))  # never made visible
    monkeypatch.setattr(os, "fsync", real_fsync)
    second = store.put_bytes(b"second")
    store.close()
    listed = [_listed(j)[1] for j in _journals(store)]
    assert sorted(listed) == sorted([[first, hash_bytes(b"not stored")], [second]])


def test_a_journal_names_nothing_outside_the_store(tmp_path):
    store = _store(tmp_path / "store")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = store.root / "unflushed"
    folder.mkdir()
    header = {"boot": OTHER_BOOT, "host": socket.gethostname(), "pid": 1, "started": 0}
    crafted = folder / f"{OTHER_BOOT}-1-dddd.jsonl"
    crafted.write_text(json.dumps(header) + "\n"
                       + json.dumps({"objects": ["../../victim.txt", "../..", 7],
                                     "packs": ["../../victim"]}) + "\n")
    found = store.settle()
    assert found.recovered == 1 and found.checked == 0
    assert victim.read_text() == "keep me"
