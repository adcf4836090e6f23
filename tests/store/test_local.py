import os
import stat

import pytest

from lineage.errors import CorruptObjectError, MissingObjectError, PathError
from lineage.core.hashing import hash_bytes
from lineage.store import LinkMode, ObjectStore


@pytest.fixture
def store(tmp_path):
    s = ObjectStore(tmp_path / "store")
    s.ensure()
    return s


def test_put_is_idempotent_and_read_verifies(store):
    d = store.put_bytes(b"hello")
    assert d == hash_bytes(b"hello")
    mtime = store.path(d).stat().st_mtime_ns
    assert store.put_bytes(b"hello") == d
    assert store.path(d).stat().st_mtime_ns == mtime  # not rewritten
    assert store.read_bytes(d) == b"hello"
    assert not (store.path(d).stat().st_mode & 0o222)  # read-only once stored


def test_corrupt_object_is_detected(store):
    d = store.put_bytes(b"payload")
    p = store.path(d)
    os.chmod(p, 0o644)
    p.write_bytes(b"tampered")
    assert store.verify(d) is False
    with pytest.raises(CorruptObjectError):
        store.read_bytes(d)
    with pytest.raises(CorruptObjectError):
        store.copy_to(d, store.root / "out.bin")
    assert not (store.root / "out.bin").exists()


def test_missing_object(store):
    with pytest.raises(MissingObjectError):
        store.read_bytes("0" * 64)


def test_batch_abort_leaves_nothing(store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 5000)
    with pytest.raises(RuntimeError):
        with store.batch() as batch:
            batch.put_bytes(b"abc", hash_bytes(b"abc"))
            batch.put_file(str(src), hash_bytes(src.read_bytes()))
            raise RuntimeError("interrupted")
    assert list(store.iter_digests()) == []
    assert os.listdir(store.tmp) == []


def test_batch_commit_installs_objects(store):
    with store.batch() as batch:
        for i in range(20):
            data = f"obj{i}".encode()
            batch.put_bytes(data, hash_bytes(data))
    assert len(list(store.iter_digests())) == 20
    assert batch.written == 20


@pytest.mark.parametrize("mode", [LinkMode.copy, LinkMode.reflink])
def test_put_file_modes(store, tmp_path, mode):
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(200_000))
    d = hash_bytes(src.read_bytes())
    assert store.put_file(src, d, link=mode) is True
    assert store.put_file(src, d, link=mode) is False
    assert store.verify(d)
    assert src.stat().st_mode & stat.S_IWUSR  # the workspace file stays writable


def test_hardlink_mode_makes_the_file_read_only(store, tmp_path):
    src = tmp_path / "data.bin"
    src.write_bytes(b"shared bytes")
    d = hash_bytes(b"shared bytes")
    store.put_file(src, d, link=LinkMode.hardlink)
    assert os.stat(src).st_ino == os.stat(store.path(d)).st_ino
    assert not (src.stat().st_mode & 0o222)


def test_put_file_refuses_a_vanished_file(store, tmp_path):
    with pytest.raises(PathError):
        store.put_file(tmp_path / "nope", "0" * 64)


def test_small_objects_in_a_batch_share_one_pack(store):
    blobs = [f"small {i}".encode() for i in range(500)]
    with store.batch() as batch:
        for b in blobs:
            batch.put_bytes(b, hash_bytes(b))
        batch.put_bytes(b"x" * (2 << 20), hash_bytes(b"x" * (2 << 20)))  # large: loose
    assert len(list(store.packs_dir.glob("*.idx"))) == 1
    assert len(list(store.objects.rglob("*"))) == 2  # one fan-out folder, one loose object
    fresh = ObjectStore(store.root)  # another process sees the pack
    for b in blobs:
        assert fresh.exists(hash_bytes(b)) and fresh.read_bytes(hash_bytes(b)) == b
    assert len(set(fresh.iter_digests())) == 501
    # a second batch of the same objects writes nothing
    with fresh.batch() as batch:
        for b in blobs:
            batch.put_bytes(b, hash_bytes(b))
    assert batch.written == 0


def test_removing_packed_objects_repacks_the_rest(store):
    blobs = [f"obj {i}".encode() for i in range(10)]
    with store.batch() as batch:
        for b in blobs:
            batch.put_bytes(b, hash_bytes(b))
    freed = store.remove([hash_bytes(blobs[0]), hash_bytes(blobs[1])])
    assert freed == len(blobs[0]) + len(blobs[1])
    assert not store.exists(hash_bytes(blobs[0]))
    assert all(store.read_bytes(hash_bytes(b)) == b for b in blobs[2:])
    assert len(list(store.packs_dir.glob("*.idx"))) == 1


def test_a_pack_without_its_index_is_invisible(store):
    with pytest.raises(RuntimeError):
        with store.batch() as batch:
            batch.put_bytes(b"a", hash_bytes(b"a"))
            raise RuntimeError("killed before commit")
    assert not store.exists(hash_bytes(b"a"))
    assert list(store.packs_dir.glob("*")) == [] if store.packs_dir.exists() else True


def test_corrupt_packed_object_is_detected(store):
    with store.batch() as batch:
        batch.put_bytes(b"precious", hash_bytes(b"precious"))
    [pack] = store.packs_dir.glob("*.pack")
    os.chmod(pack, 0o644)
    pack.write_bytes(pack.read_bytes().replace(b"precious", b"precioua"))
    fresh = ObjectStore(store.root)
    assert fresh.verify(hash_bytes(b"precious")) is False
    with pytest.raises(CorruptObjectError):
        fresh.read_bytes(hash_bytes(b"precious"))


def test_gc_waits_for_writers(tmp_path):
    """A collector cannot run while a writer holds the store (and vice versa)."""
    from lineage.errors import ConflictError

    store = ObjectStore(tmp_path / "s")
    store.ensure()
    with store.writing():
        with store.writing():  # writers share
            pass
        with pytest.raises(ConflictError, match="writing to the store"):
            with store.collecting():
                pass
    with store.collecting():
        pass


def test_large_batches_still_skip_objects_already_stored(store):
    loose = store.put_bytes(b"a manifest, stored loose")
    blobs = [f"blob {i}".encode() for i in range(700)]  # past the per-object check
    with store.batch() as batch:
        for b in blobs:
            batch.put_bytes(b, hash_bytes(b))
    with store.batch() as again:
        for b in [*blobs, b"a manifest, stored loose"]:
            again.put_bytes(b, hash_bytes(b))
    assert again.written == 0
    assert store.is_loose(loose) and len(list(store.packs_dir.glob("*.idx"))) == 1


def test_local_packs_and_remote_packs_share_one_format(store):
    """A pack the local store writes is what ``lineage.store.packs`` reads and writes for
    remotes: the same index bytes, the same pack ID, for the same objects."""
    from lineage.store.packs import PackIndex, PackWriter

    blobs = [f"object {i}".encode() for i in range(50)]
    with store.batch() as batch:
        for b in blobs:
            batch.put_bytes(b, hash_bytes(b))
    (idx_path,) = store.packs_dir.glob("*.idx")
    index = PackIndex.decode(idx_path.read_bytes(), idx_path.stem)
    pack = idx_path.with_suffix(".pack").read_bytes()
    assert sorted(index.digests()) == sorted(hash_bytes(b) for b in blobs)
    for e in index.entries:
        assert hash_bytes(pack[e.offset:e.offset + e.length]) == e.digest
    writer = PackWriter()
    for b in blobs:
        writer.add(hash_bytes(b), b)
    assert writer.finish() == (pack, idx_path.read_bytes(), idx_path.stem)


def test_a_large_file_is_hashed_while_it_is_stored(store, tmp_path):
    data = os.urandom(3 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with store.batch() as batch:
        d = batch.hash_and_put_file(str(src))
        assert d == hash_bytes(data)
        assert not store.exists(d)  # renamed into place at commit only
    assert store.read_bytes(d) == data
    assert os.listdir(store.tmp) == []
    # the same bytes again: the temporary copy is dropped, the object not rewritten
    mtime = store.path(d).stat().st_mtime_ns
    with store.batch() as batch:
        assert batch.hash_and_put_file(str(src)) == d
    assert batch.written == 0 and store.path(d).stat().st_mtime_ns == mtime
    assert os.listdir(store.tmp) == []


def test_a_failed_batch_leaves_no_hashed_copy(store, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(2 << 20))
    with pytest.raises(RuntimeError):
        with store.batch() as batch:
            d = batch.hash_and_put_file(str(src))
            raise RuntimeError("interrupted")
    assert not store.exists(d) and os.listdir(store.tmp) == []
    with pytest.raises(PathError):
        store.batch().hash_and_put_file(str(tmp_path / "gone.bin"))


def test_a_large_file_is_copied_in_chunks_hashing_what_was_written(store, tmp_path, monkeypatch):
    from lineage.store import objects

    monkeypatch.setattr(objects, "COPY_CHUNK", 1 << 20)  # several chunks, the last one short
    data = os.urandom((3 << 20) + 12345)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with store.batch() as batch:
        d = batch.hash_and_put_file(str(src))
    assert d == hash_bytes(data) and store.path(d).read_bytes() == data
    assert os.listdir(store.tmp) == []
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with store.batch() as batch:
        assert batch.hash_and_put_file(str(empty)) == hash_bytes(b"")


def test_short_kernel_copies_leave_unaligned_offsets_that_are_still_hashed(store, tmp_path, monkeypatch):
    """The kernel may copy fewer bytes than asked: the next chunk then starts off a page
    boundary, and is mapped from the page before it."""
    from lineage.store import objects

    real = os.copy_file_range
    calls = []

    def short(src, dst, count, offset_src=None, offset_dst=None):
        calls.append(offset_dst)
        return real(src, dst, min(count, 10_007), offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", short)
    data = os.urandom(100_000)
    src = tmp_path / "odd.bin"
    src.write_bytes(data)
    with store.batch() as batch:
        d = batch.hash_and_put_file(str(src))
    assert d == hash_bytes(data) and store.path(d).read_bytes() == data
    assert any(o % 4096 for o in calls[1:]), "offsets off a page boundary were exercised"


def test_a_large_object_is_written_out_in_chunks(store, tmp_path, monkeypatch):
    from lineage.store import objects

    monkeypatch.setattr(objects, "COPY_CHUNK", 1 << 20)  # several chunks, the last one short
    data = os.urandom((3 << 20) + 4321)
    d = store.put_bytes(data)
    store.copy_to(d, tmp_path / "a.bin")
    store.write_new(d, str(tmp_path / "b.bin"))
    assert (tmp_path / "a.bin").read_bytes() == data == (tmp_path / "b.bin").read_bytes()


def test_where_the_kernel_cannot_copy_the_bytes_go_through_a_buffer(store, tmp_path, monkeypatch):
    import errno

    from lineage.store import objects

    def refuse(*args, **kwargs):
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(objects.os, "copy_file_range", refuse)
    data = os.urandom(3 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with store.batch() as batch:
        d = batch.hash_and_put_file(str(src))
    assert d == hash_bytes(data) and store.path(d).read_bytes() == data


def test_a_large_file_that_shrinks_while_it_is_copied_is_refused(store, tmp_path, monkeypatch):
    from lineage.store import objects

    monkeypatch.setattr(objects, "COPY_CHUNK", 1 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(4 << 20))
    real = os.copy_file_range

    def copy_then_truncate(fd_in, fd_out, count, offset_src=None, offset_dst=None):
        n = real(fd_in, fd_out, count, offset_src, offset_dst)
        os.truncate(src, 2 << 20)  # the file is cut short by another program meanwhile
        return n

    monkeypatch.setattr(objects.os, "copy_file_range", copy_then_truncate)
    with pytest.raises(PathError, match="changed while"):
        with store.batch() as batch:
            batch.hash_and_put_file(str(src))
    assert os.listdir(store.tmp) == [] and not list(store.objects.rglob("*"))


def test_write_new_writes_a_new_file_only(store, tmp_path):
    small = store.put_bytes(b"tiny")
    with store.batch() as batch:
        batch.put_bytes(b"packed", hash_bytes(b"packed"))
    big = os.urandom(2 << 20)
    loose = store.put_bytes(big)
    for digest, want in ((small, b"tiny"), (hash_bytes(b"packed"), b"packed"), (loose, big)):
        out = tmp_path / f"out-{digest[:6]}"
        st = store.write_new(digest, str(out), executable=True)
        assert out.read_bytes() == want and stat.S_IMODE(st.st_mode) == 0o755
        assert (st.st_ino, st.st_size) == (out.stat().st_ino, len(want))
        with pytest.raises(FileExistsError):  # never over an existing file
            store.write_new(digest, str(out))
    # a corrupt loose object is refused, not written
    path = store.path(loose)
    os.chmod(path, 0o644)
    path.write_bytes(b"x" + big[1:])
    with pytest.raises(CorruptObjectError):
        store.write_new(loose, str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


def test_a_batch_stores_an_object_once_whichever_of_its_packs_holds_it(store, monkeypatch):
    import lineage.store.objects as objects

    monkeypatch.setattr(objects, "PACK_SIZE_MAX", 64)  # a new pack every few objects
    blobs = [f"object number {i}".encode() for i in range(12)]
    with store.batch() as batch:
        for b in blobs:
            batch.put_bytes(b, hash_bytes(b))
        assert batch._done_packs  # some are in finished packs, some in the open one
        for b in blobs:  # again, in the same batch: nothing new
            batch.put_bytes(b, hash_bytes(b))
            assert batch._has(hash_bytes(b))
        assert not batch._has(hash_bytes(b"never put"))
    assert batch.written == len(blobs)
    assert sum(1 for _ in store.iter_digests()) == len(blobs)
