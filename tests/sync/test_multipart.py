"""Large objects on S3: multipart uploads and ranged downloads, in parts smaller than the file."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.errors import RemoteError, UsageError
from lineage.store.remote import MIN_PART_SIZE
from lineage.sync import fetch as sync_fetch, push as sync_push
from lineage.sync.remotes import open_remote

pytestmark = pytest.mark.s3

PART = MIN_PART_SIZE  # 5 MiB, the smallest part S3 accepts
BIG = 2 * PART + PART // 2 + 12_345  # three parts, the last one short


def _uploads(env) -> list[dict]:
    bucket = env.root.split("/", 1)[0]
    return env.fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads") or []


def test_object_larger_than_a_part_round_trips_with_its_digest(s3_remote, make_clone):
    a = make_clone("a", s3_remote, part_size=PART, parts=2)
    data = os.urandom(BIG)
    write_tree(a.root / "data", {"big.bin": data, "small.txt": "x\n"})
    snapshots.create(a, a.root / "data", name="d")
    pushed = sync_push.push(a)
    digest = blake3.blake3(data).hexdigest()
    obj = f"{s3_remote.root}/objects/{digest[:2]}/{digest[2:]}"
    assert s3_remote.fs.info(obj)["size"] == BIG
    assert pushed.requests >= 3  # one request per part at least
    assert _uploads(s3_remote) == []  # completed: nothing left half-done

    b = make_clone("b", s3_remote, part_size=PART, parts=2)
    pulled = sync_fetch.pull(b)
    assert pulled.objects_received >= 1
    got = (b.root / "data" / "big.bin").read_bytes()
    assert blake3.blake3(got).hexdigest() == digest and got == data
    assert b.store.verify(digest)


def test_one_sender_reusing_its_part_buffer_uploads_every_file_intact(s3_remote, make_clone):
    # one part sender for all: each part is read into the buffer the part before it used,
    # and the short last parts of files of different sizes in fresh buffers of their own
    a = make_clone("a", s3_remote, part_size=PART, parts=1)
    files = {"one.bin": os.urandom(BIG), "two.bin": os.urandom(3 * PART + 777), "three.bin": os.urandom(2 * PART)}
    write_tree(a.root / "data", files)
    snapshots.create(a, a.root / "data", name="d")
    sync_push.push(a)
    for data in files.values():
        digest = blake3.blake3(data).hexdigest()
        assert s3_remote.fs.cat_file(f"{s3_remote.root}/objects/{digest[:2]}/{digest[2:]}") == data
    b = make_clone("b", s3_remote, part_size=PART, parts=1)
    sync_fetch.pull(b)
    for name, data in files.items():
        assert (b.root / "data" / name).read_bytes() == data


def test_part_checksum_is_the_crc32_s3_checks():
    import zlib

    from lineage.store.remote import _crc32

    data = os.urandom(3 << 20)
    assert _crc32()(bytearray(data)) == zlib.crc32(data)


def test_object_below_two_parts_goes_in_one_request(s3_remote, make_clone, monkeypatch):
    a = make_clone("a", s3_remote, part_size=PART)
    write_tree(a.root / "data", {"mid.bin": os.urandom(PART + 1000)})
    snapshots.create(a, a.root / "data", name="d")
    rs = open_remote(a)
    called = []
    monkeypatch.setattr(type(rs), "_put_multipart", lambda *args: called.append(args))
    monkeypatch.setattr(type(rs), "_get_ranges", lambda *args: called.append(args))
    digest = blake3.blake3((a.root / "data" / "mid.bin").read_bytes()).hexdigest()
    rs.put_file(digest, os.fspath(a.store.path(digest)))
    assert rs.get_file(digest, a.root / "copy.bin", size=PART + 1000) == digest
    assert called == []


def test_failed_part_aborts_the_upload_and_leaves_no_object(s3_remote, make_clone, monkeypatch):
    a = make_clone("a", s3_remote, part_size=PART, parts=1)
    data = os.urandom(BIG)
    write_tree(a.root / "data", {"big.bin": data})
    snapshots.create(a, a.root / "data", name="d")
    digest = blake3.blake3(data).hexdigest()
    rs = open_remote(a)
    rs.ensure()
    client, _ = rs._parts()
    real = client.upload_part
    sent = []

    def flaky(**kwargs):
        if kwargs["PartNumber"] == 2:
            raise ConnectionResetError("the link dropped")
        sent.append(kwargs["PartNumber"])
        return real(**kwargs)

    monkeypatch.setattr(client, "upload_part", flaky)
    with pytest.raises(RemoteError, match="cannot reach|failed"):
        rs.put_file(digest, os.fspath(a.store.path(digest)))
    assert sent and 2 not in sent
    assert s3_remote.files("objects") == []
    assert _uploads(s3_remote) == []  # aborted, not left to accumulate

    monkeypatch.setattr(client, "upload_part", real)
    rs.put_file(digest, os.fspath(a.store.path(digest)))
    assert len(s3_remote.files("objects")) == 1


def test_part_size_below_the_s3_minimum_is_refused(s3_remote, make_clone):
    with pytest.raises(UsageError, match="part_size"):
        make_clone("a", s3_remote, part_size=1024)


def test_download_part_failure_is_one_error_and_nothing_stored(s3_remote, make_clone, monkeypatch):
    a = make_clone("a", s3_remote, part_size=PART)
    data = os.urandom(BIG)
    write_tree(a.root / "data", {"big.bin": data})
    snapshots.create(a, a.root / "data", name="d")
    sync_push.push(a)
    b = make_clone("b", s3_remote, part_size=PART)
    rs = open_remote(b)
    client, _ = rs._parts()
    real = client.get_object

    def flaky(**kwargs):
        if kwargs.get("Range", "").startswith(f"bytes={PART}-"):
            raise ConnectionResetError("the link dropped")
        return real(**kwargs)

    monkeypatch.setattr(client, "get_object", flaky)
    monkeypatch.setattr("lineage.sync.fetch.open_remote", lambda repo, name=None: rs)
    with pytest.raises(RemoteError):
        sync_fetch.fetch(b)
    digest = blake3.blake3(data).hexdigest()
    assert not b.store.exists(digest)
    monkeypatch.setattr(client, "get_object", real)
    sync_fetch.pull(b)
    assert (b.root / "data" / "big.bin").read_bytes() == data
    assert not list(Path(b.store.tmp).iterdir())


def test_remote_gc_aborts_abandoned_uploads_past_the_grace_period(s3_remote, make_clone):
    from lineage.sync import gc as sync_gc

    a = make_clone("a", s3_remote)
    write_tree(a.root / "data", {"f.txt": "x\n"})
    snapshots.create(a, a.root / "data", name="d")
    sync_push.push(a)
    bucket, prefix = s3_remote.root.split("/", 1)
    key = f"{prefix}/objects/ab/{'c' * 62}"  # what a push killed mid-file leaves
    s3_remote.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    other = "elsewhere/big.bin"  # not the store's: never touched
    s3_remote.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=other)

    young = sync_gc.collect(a, remote="origin")  # an upload in progress: kept
    assert not [r for r in young.removed if r.where == "upload"]
    assert {u["Key"] for u in _uploads(s3_remote)} == {key, other}

    dry = sync_gc.collect(a, remote="origin", grace=0, dry_run=True)
    assert [r.digest for r in dry.removed if r.where == "upload"] == ["ab" + "c" * 62]
    assert len(_uploads(s3_remote)) == 2
    done = sync_gc.collect(a, remote="origin", grace=0)
    assert [r.where for r in done.removed] == ["upload"]
    assert [u["Key"] for u in _uploads(s3_remote)] == [other]


def _pushed_big(make_clone, s3_remote, size: int = BIG) -> tuple[bytes, str]:
    a = make_clone("a", s3_remote, part_size=PART, parts=2)
    data = os.urandom(size)
    write_tree(a.root / "data", {"big.bin": data})
    snapshots.create(a, a.root / "data", name="d")
    sync_push.push(a)
    return data, blake3.blake3(data).hexdigest()


def _reader(make_clone, s3_remote, parts: int = 2):
    """A second clone, its open remote and that remote's S3 client (to wrap ``get_object``)."""
    b = make_clone("b", s3_remote, part_size=PART, parts=parts)
    rs = open_remote(b)
    client, _ = rs._parts()
    return b, rs, client


def test_parts_landing_out_of_order_are_hashed_in_order(s3_remote, make_clone, monkeypatch):
    import threading

    data, digest = _pushed_big(make_clone, s3_remote, 4 * PART + 999)  # five parts
    b, rs, client = _reader(make_clone, s3_remote, parts=4)
    real = client.get_object
    last_done = threading.Event()
    order = []

    def slow_first(**kwargs):
        # the first part waits until the last one has landed: every other part arrives
        # before the one the hash must start with
        rng = kwargs.get("Range", "")
        if rng.startswith("bytes=0-"):
            assert last_done.wait(30)
        out = real(**kwargs)
        order.append(rng)
        if rng.startswith(f"bytes={4 * PART}-"):
            last_done.set()
        return out

    monkeypatch.setattr(client, "get_object", slow_first)
    dest = b.root / "big.bin"
    assert rs.get_file(digest, dest, size=len(data)) == digest
    assert order[-1].startswith("bytes=0-")  # the first part really came last
    assert dest.read_bytes() == data


def test_a_corrupt_part_gives_a_digest_that_does_not_match(s3_remote, make_clone, monkeypatch):
    data, digest = _pushed_big(make_clone, s3_remote)
    b, rs, client = _reader(make_clone, s3_remote)
    real = client.get_object

    def other_bytes(**kwargs):
        if kwargs.get("Range", "").startswith(f"bytes={PART}-"):  # the middle part, from elsewhere
            kwargs = {**kwargs, "Range": f"bytes=0-{PART - 1}"}
        return real(**kwargs)

    monkeypatch.setattr(client, "get_object", other_bytes)
    monkeypatch.setattr("lineage.sync.fetch.open_remote", lambda repo, name=None: rs)
    from lineage.errors import CorruptObjectError

    with pytest.raises(CorruptObjectError, match="corrupt"):
        sync_fetch.fetch(b)
    assert not b.store.exists(digest)
    assert not list(Path(b.store.tmp).iterdir())


def test_a_part_that_ends_early_is_an_error_and_nothing_is_stored(s3_remote, make_clone, monkeypatch):
    data, digest = _pushed_big(make_clone, s3_remote)
    b, rs, client = _reader(make_clone, s3_remote)
    real = client.get_object

    class Short:
        """A body that stops 100 bytes before the range's end (a server dying mid-part)."""

        def __init__(self, body, length):
            self.body, self.left = body, length - 100

        def read(self, n=-1):
            n = self.left if n is None or n < 0 else min(n, self.left)
            block = self.body.read(n) if n else b""
            self.left -= len(block)
            return block

        def close(self):
            self.body.close()

    def short(**kwargs):
        out = real(**kwargs)
        if kwargs.get("Range", "").startswith(f"bytes={PART}-"):
            out["Body"] = Short(out["Body"], PART)
        return out

    monkeypatch.setattr(client, "get_object", short)
    monkeypatch.setattr("lineage.sync.fetch.open_remote", lambda repo, name=None: rs)
    with pytest.raises(RemoteError, match="ended early"):
        sync_fetch.fetch(b)
    assert not b.store.exists(digest)
    monkeypatch.setattr(client, "get_object", real)
    sync_fetch.pull(b)
    assert (b.root / "data" / "big.bin").read_bytes() == data


def test_a_body_without_a_socket_underneath_is_read_in_blocks(s3_remote, make_clone, monkeypatch):
    data, digest = _pushed_big(make_clone, s3_remote)
    b, rs, client = _reader(make_clone, s3_remote)
    real = client.get_object
    wrapped = []

    class Plain:
        """Only read() and close(): no raw stream to receive into (another transport)."""

        def __init__(self, body):
            self.body = body

        def read(self, n=-1):
            return self.body.read(n)

        def close(self):
            self.body.close()

    def plain(**kwargs):
        out = real(**kwargs)
        out["Body"] = Plain(out["Body"])
        wrapped.append(kwargs["Range"])
        return out

    monkeypatch.setattr(client, "get_object", plain)
    assert rs.get_file(digest, b.root / "big.bin", size=len(data)) == digest
    assert len(wrapped) == 3
    assert (b.root / "big.bin").read_bytes() == data


def test_without_splice_a_body_is_received_into_the_mapping(s3_remote, make_clone, monkeypatch):
    # where splice(2) is missing (not Linux) or cannot be used (TLS), the socket is read
    # straight into the mapped file instead
    from lineage.store import remote as remote_mod

    data, digest = _pushed_big(make_clone, s3_remote)
    b, rs, _ = _reader(make_clone, s3_remote)
    monkeypatch.delattr(os, "splice")
    received = []
    real = remote_mod._receive
    monkeypatch.setattr(remote_mod, "_receive", lambda *a: received.append(a[3]) or real(*a))
    assert rs.get_file(digest, b.root / "big.bin", size=len(data)) == digest
    assert sorted(received) == [0, PART, 2 * PART]
    assert (b.root / "big.bin").read_bytes() == data


def test_a_connection_cut_mid_part_is_an_error_under_splice_too(s3_remote, make_clone, monkeypatch):
    import socket

    data, digest = _pushed_big(make_clone, s3_remote)
    b, rs, client = _reader(make_clone, s3_remote)
    real = client.get_object

    def cut(**kwargs):
        out = real(**kwargs)
        if kwargs.get("Range", "").startswith(f"bytes={PART}-"):
            resp = out["Body"]._raw_stream._fp
            resp.fp.peek(1)  # some bytes in, then the link goes
            resp.fp.raw._sock.shutdown(socket.SHUT_RD)
        return out

    from lineage.store import remote as remote_mod

    spliced = []
    real_splice = remote_mod._splice_body

    def spy(body, fd, start, *rest):
        try:
            spliced.append((start, real_splice(body, fd, start, *rest)))
        except OSError:
            spliced.append((start, "cut"))
            raise
        return spliced[-1][1]

    monkeypatch.setattr(remote_mod, "_splice_body", spy)
    monkeypatch.setattr(client, "get_object", cut)
    monkeypatch.setattr("lineage.sync.fetch.open_remote", lambda repo, name=None: rs)
    with pytest.raises(RemoteError, match="ended early"):
        sync_fetch.fetch(b)
    assert (PART, "cut") in spliced  # the cut part went through splice and failed there
    assert all(ok in (True, "cut") for _, ok in spliced)
    assert not b.store.exists(digest)
    assert not list(Path(b.store.tmp).iterdir())
    monkeypatch.setattr(client, "get_object", real)
    sync_fetch.pull(b)
    assert (b.root / "data" / "big.bin").read_bytes() == data
