"""A remote that is missing, mistyped or never pushed to is an error that names it, on
every remote command (exit 2), never a quiet "received nothing"; a missing bucket is
refused, not created; backend noise from a dying server never reaches stderr.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from conftest import write_tree



def reads(name: str = "origin") -> list[list[str]]:
    """Every command that reads a remote."""
    return [["fetch", "-r", name], ["pull", "-r", name], ["gc", "--remote", name],
            ["verify", "--remote", name]]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def base(request, tmp_path, monkeypatch) -> tuple[str, list[str]]:
    """(URL of an existing place to put remotes under, extra `remote add` arguments)."""
    if request.param == "local":
        (tmp_path / "remotes").mkdir()
        return str(tmp_path / "remotes"), []
    server = request.getfixturevalue("s3")
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    bucket = f"t{uuid.uuid4().hex[:12]}"
    server.filesystem().mkdir(bucket)
    return f"s3://{bucket}", ["--endpoint-url", server.endpoint]


def _add(cli, url: str, extra: list[str], name: str = "origin") -> None:
    r = cli("remote", "add", name, url, "--default", *extra)
    assert r.code == 0, r.stderr


def _one_error_line(r, *needles: str) -> None:
    assert r.code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_every_read_of_a_mistyped_prefix_fails_naming_the_remote(cli, workdir, base):
    url, extra = base
    write_tree(workdir / "data", {"a.txt": "a\n"})
    assert cli("snapshot", "data").code == 0
    _add(cli, f"{url}/team/store", extra, name="good")
    assert cli("push", "-r", "good").code == 0
    _add(cli, f"{url}/team/stroe", extra)  # the typo
    for args in reads():
        r = cli(*args)
        _one_error_line(r, "remote 'origin'", f"{url}/team/stroe", "does not exist")
        if url.startswith("s3://"):
            assert "is empty or does not exist: nothing has been pushed there" in r.stderr


@pytest.mark.s3
def test_a_missing_bucket_is_named_on_every_command_and_never_created(cli, workdir, s3, monkeypatch):
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    bucket = f"missing{uuid.uuid4().hex[:10]}"
    write_tree(workdir / "data", {"a.txt": "a\n"})
    assert cli("snapshot", "data").code == 0
    _add(cli, f"s3://{bucket}/store", ["--endpoint-url", s3.endpoint])
    r = cli("push")
    _one_error_line(r, f"bucket '{bucket}' does not exist", "remote 'origin'", f"aws s3 mb s3://{bucket}")
    for args in reads():
        _one_error_line(cli(*args), f"bucket '{bucket}' does not exist", "remote 'origin'")
    # SeaweedFS (like s3fs's makedirs) would create a bucket on a first write: push must not
    with pytest.raises(FileNotFoundError):
        s3.filesystem().call_s3("head_bucket", Bucket=bucket)
    assert s3.secret_key not in r.stderr


def test_verify_remote_of_an_empty_remote_says_it_is_empty(cli, workdir, base):
    url, extra = base
    _add(cli, f"{url}/empty", extra)
    assert cli("push").code == 0  # nothing to send: the remote gets its format marker only
    r = cli("verify", "--remote", "origin")
    _one_error_line(r, "remote 'origin'", "is empty: nothing has been pushed there")
    assert "OK" not in r.stdout
    # an existing, empty remote is a fine thing to fetch from
    assert cli("fetch").code == 0


def test_reading_a_missing_folder_fails_and_push_creates_it(cli, workdir, tmp_path):
    write_tree(workdir / "data", {"a.txt": "a\n"})
    assert cli("snapshot", "data").code == 0
    folder = tmp_path / "nas" / "lineage" / "store"
    _add(cli, str(folder), [], name="nas")
    for args in reads("nas"):
        _one_error_line(cli(*args), "remote 'nas'", f"({folder}) does not exist: no such folder")
    assert not (tmp_path / "nas").exists()  # reading creates nothing
    assert cli("push", "-r", "nas").code == 0
    assert (folder / "lineage-remote.json").is_file()
    assert cli("verify", "--remote", "nas").code == 0


def test_abandoned_backend_tasks_print_nothing(tmp_path: Path):
    """A server that dies mid-transfer leaves failed requests no one awaits; asyncio would
    print "Task exception was never retrieved" with a traceback at exit, and backend
    loggers would print theirs, before (or after) our one-line error."""
    script = textwrap.dedent("""
        import asyncio, gc, logging, time
        import fsspec.asyn
        from lineage.sync.remotes import Remote, filesystem

        filesystem(Remote("origin", "s3://bucket/p", options={"endpoint_url": "http://127.0.0.1:9"}))
        loop = fsspec.asyn.get_loop()

        async def part_upload():
            raise ConnectionResetError("server died")

        loop.call_soon_threadsafe(lambda: loop.create_task(part_upload()))
        time.sleep(0.3)
        loop.call_soon_threadsafe(gc.collect)
        time.sleep(0.3)
        logging.getLogger("aiobotocore.endpoint").error("Traceback (most recent call last): ...")
        logging.getLogger("s3fs").error("Traceback (most recent call last): ...")
        print("done")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert proc.stderr == ""
