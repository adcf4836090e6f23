"""Pull and checkout write only inside the work tree; odd names round-trip or are
refused with a reason.

A "teammate" clone records snapshot events with hostile dataset paths (a modified
tool or a crafted remote can do this) and pushes them to a folder remote; a "victim"
clone runs a real ``lineage pull`` and must write nothing outside its work tree, and
never a git hook.
"""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.sync import push as sync_push
from lineage.errors import UnsafePathError
from lineage.snapshots.manifest import Entry, Manifest

from .clones import forge_snapshot, make_clone
from .conftest import lineage_proc

PAYLOAD = b"#!/bin/sh\necho owned > \"$HOME/owned\"\n"


@pytest.fixture
def pair(tmp_path):
    url = str(tmp_path / "remote")
    a = make_clone(tmp_path, "teammate", url)
    b = make_clone(tmp_path, "victim", url)
    yield a, b
    a.close()
    b.close()


def _pull(b, *args):
    r = lineage_proc(["pull", *args], cwd=b.root)
    assert "Traceback" not in r.stderr
    return r


def _all_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _victim_files(b):
    return [p for p in _all_files(b.root) if not p.startswith((".lineage/", ".git/"))]


# -- malicious remote -------------------------------------------------------------

def test_absolute_dataset_path_is_skipped_with_a_warning(pair, tmp_path):
    a, b = pair
    target = tmp_path / "home" / ".ssh"
    forge_snapshot(a, "keys", str(target), {"authorized_keys": b"ssh-ed25519 AAAA attacker\n"})
    sync_push.push(a)
    r = _pull(b)
    assert r.returncode == 0, r.stderr
    assert "keys" in r.stderr and "outside the repository" in r.stderr
    assert not target.exists()


def test_dotdot_dataset_path_is_skipped(pair, tmp_path):
    a, b = pair
    forge_snapshot(a, "up", "../escaped", {"x.txt": b"x"})
    sync_push.push(a)
    r = _pull(b, "--json")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "escaped").exists()
    assert any("'up'" in w for w in json.loads(r.stdout)["warnings"])


def test_git_hook_is_never_written(pair):
    a, b = pair
    # the command the issue reports is refused now; an older client or a crafted remote
    # can still record it, so it is forged here as a file, a folder, an upper-case .GIT
    hook = a.root / ".git" / "hooks" / "post-checkout"
    hook.write_bytes(PAYLOAD)
    hook.chmod(0o755)
    assert lineage_proc(["snapshot", ".git/hooks/post-checkout"], cwd=a.root).returncode == 2
    forge_snapshot(a, "post-checkout", ".git/hooks/post-checkout", {"post-checkout": PAYLOAD},
                   kind="file", executable=True)
    forge_snapshot(a, "hooks", ".git/hooks", {"pre-commit": PAYLOAD}, executable=True)
    forge_snapshot(a, "HOOKS", ".GIT/hooks", {"pre-push": PAYLOAD}, executable=True)
    forge_snapshot(a, "rootgit", ".", {".git/hooks/post-merge": PAYLOAD}, executable=True)
    sync_push.push(a)
    r = _pull(b)
    assert r.returncode == 0, r.stderr
    hooks = b.root / ".git" / "hooks"
    for name in ("post-checkout", "pre-commit", "pre-push", "post-merge"):
        assert not (hooks / name).exists(), name
    assert "post-checkout" in r.stderr and "hooks" in r.stderr
    # asking for it by name is an error, not a write
    r = _pull(b, "hooks")
    assert r.returncode == 2 and not (hooks / "post-checkout").exists()
    assert "give a destination" in r.stderr


def test_lineage_folder_is_never_written(pair):
    a, b = pair
    before = (b.root / ".lineage" / "config.toml").read_bytes()
    forge_snapshot(a, "cfg", ".lineage/config.toml", {"config.toml": b"[core]\nlink = 'hardlink'\n"},
                   kind="file")
    forge_snapshot(a, "cfg2", ".Lineage", {"config.toml": b"x"})
    sync_push.push(a)
    r = _pull(b)
    assert r.returncode == 0, r.stderr
    assert (b.root / ".lineage" / "config.toml").read_bytes() == before
    assert not (b.root / ".Lineage").exists()  # the same folder on macOS and Windows
    r = _pull(b, "cfg")  # asked for by name: an error, not a write
    assert r.returncode == 2 and "give a destination" in r.stderr
    assert (b.root / ".lineage" / "config.toml").read_bytes() == before


def test_manifest_entry_climbing_out_is_refused(pair, tmp_path):
    a, b = pair
    forge_snapshot(a, "data", "data", {"ok.txt": b"ok", "../../outside.txt": b"x"})
    sync_push.push(a)
    r = _pull(b)
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "outside.txt").exists() and not (b.root / "data" / "ok.txt").exists()


def test_symlinked_dataset_folder_leading_out_is_skipped(pair, tmp_path):
    a, b = pair
    outside = tmp_path / "victim-secrets"
    outside.mkdir()
    # the link came from git: a teammate committed "data -> <somewhere>"
    (b.root / "data").symlink_to(outside)
    (b.root / "inner").mkdir()
    (b.root / "inner" / "sub").symlink_to(outside)
    (b.root / "gitlink").symlink_to(b.root / ".git")
    snapshots.create(a, write_tree(a.root / "data", {"authorized_keys": "attacker\n"}), name="data")
    snapshots.create(a, write_tree(a.root / "inner", {"sub/x.txt": "x\n"}), name="inner")
    forge_snapshot(a, "gl", "gitlink/hooks", {"post-checkout": PAYLOAD}, executable=True)
    sync_push.push(a)
    r = _pull(b)
    assert r.returncode == 0, r.stderr
    assert list(outside.iterdir()) == []
    assert not (b.root / ".git" / "hooks" / "post-checkout").exists()
    assert "symbolic link" in r.stderr
    # the user may still choose to write there explicitly
    r = lineage_proc(["checkout", "data", str(b.root / "data")], cwd=b.root)
    assert r.returncode == 0, r.stderr
    assert (outside / "authorized_keys").read_text() == "attacker\n"


def test_honest_teammate_outside_their_repo_gets_a_warning(pair, tmp_path):
    a, b = pair
    elsewhere = write_tree(tmp_path / "scratch" / "raw", {"r.txt": "raw\n"})
    assert lineage_proc(["snapshot", str(elsewhere), "--name", "raw", "--external"], cwd=a.root).returncode == 0
    snapshots.create(a, write_tree(a.root / "clean", {"c.txt": "c\n"}), name="clean")
    sync_push.push(a)
    import shutil

    shutil.rmtree(tmp_path / "scratch")
    r = _pull(b)
    assert r.returncode == 0, r.stderr
    assert "'raw'" in r.stderr and "outside the repository" in r.stderr
    assert not (tmp_path / "scratch").exists()
    assert (b.root / "clean" / "c.txt").read_text() == "c\n"  # the rest is checked out
    r = lineage_proc(["checkout", "raw", str(b.root / "raw-copy")], cwd=b.root)
    assert r.returncode == 0 and (b.root / "raw-copy" / "r.txt").read_text() == "raw\n"


def test_no_executable_bit_below_git_even_with_an_explicit_destination(repo, tmp_path):
    data = write_tree(repo.root / "tools", {"run.sh": "#!/bin/sh\n"})
    (data / "run.sh").chmod(0o755)
    s = snapshots.create(repo, data)
    other = tmp_path / "other" / ".git" / "hooks"
    snapshots.checkout(repo, s.id, other)
    assert not os.stat(other / "run.sh").st_mode & 0o111
    with pytest.raises(UnsafePathError):
        snapshots.checkout(repo, s.id, repo.root / ".git" / "hooks")
    with pytest.raises(UnsafePathError):
        snapshots.checkout(repo, s.id, repo.root / ".lineage" / "x")


def test_path_option_is_checked(repo):
    s = snapshots.create(repo, write_tree(repo.root / "d", {"a.txt": "a"}))
    for bad in ("../a.txt", "a/../../b", ".git/x", "a//b"):
        with pytest.raises(UnsafePathError):
            snapshots.checkout(repo, s.id, repo.root / "out", paths=[bad])


# -- names ------------------------------------------------------------------------

ODD = {"a:b.txt": "colon", "back\\slash.txt": "backslash", "C:/x.txt": "drive-like",
       "L" * 250: "long", "é/ü.txt": "unicode", "sp ace/.hidden": "dot"}


def test_legal_posix_names_round_trip(repo, tmp_path):
    data = write_tree(repo.root / "odd", ODD)
    s = snapshots.create(repo, data)
    assert s.files == len(ODD)
    out = tmp_path / "out"
    r = snapshots.checkout(repo, s.id, out)
    assert len(r.written) == len(ODD)
    for rel, text in ODD.items():
        assert (out / rel).read_text() == text
    assert not list(out.rglob("*.lineage-tmp*")) and not list(out.rglob(".lineage-tmp-*"))


def test_long_name_checkout_through_the_cli(cli, workdir, tmp_path):
    write_tree(workdir / "d", {"x" * 255: "max length name"})
    assert cli("snapshot", "d").code == 0
    r = cli("checkout", "d", str(tmp_path / "out"))
    assert r.code == 0, r.stderr
    assert (tmp_path / "out" / ("x" * 255)).read_text() == "max length name"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse non-UTF-8 names")
def test_non_utf8_name_is_refused_with_its_name(workdir):
    d = workdir / "d"
    d.mkdir()
    (d / "ok.txt").write_text("ok")
    with open(os.path.join(os.fsencode(d), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"x")
    r = lineage_proc(["snapshot", "d"], cwd=workdir)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r"error: file name is not valid UTF-8: caf\xe9.txt "
                                             "(rename it to snapshot this folder)"]
    assert lineage_proc(["log", "--json"], cwd=workdir).stdout.strip() in ('{\n  "snapshots": []\n}',)


def test_empty_folders_round_trip_and_other_ids_do_not_change(repo, tmp_path):
    files = {"a.txt": "a", "sub/b.txt": "b"}
    plain = snapshots.create(repo, write_tree(repo.root / "plain", files))
    # the ID of a tree without empty folders is what it always was: files only
    expected = Manifest.build("folder", [Entry("a.txt", 1, _digest(b"a")), Entry("sub/b.txt", 1, _digest(b"b"))])
    assert plain.id == expected.id and b"dirs" not in expected.encode()
    data = write_tree(repo.root / "withdirs", files)
    (data / "empty").mkdir()
    (data / "nested" / "deeper").mkdir(parents=True)
    (data / "only-pycache" / "__pycache__").mkdir(parents=True)
    s = snapshots.create(repo, data)
    assert s.id != plain.id
    m = snapshots.load_manifest(repo, s.id)
    assert m.dirs == ("empty", "nested/deeper", "only-pycache")
    out = tmp_path / "out"
    snapshots.checkout(repo, s.id, out)
    for d in m.dirs:
        assert (out / d).is_dir()
    assert snapshots.create(repo, out, name="copy", external=True).id == s.id
    # an empty folder appearing is a change
    (data / "new-empty").mkdir()
    assert snapshots.create(repo, data).id != s.id


def _digest(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def test_fifo_socket_and_dangling_link_are_reported_as_skipped(repo):
    data = write_tree(repo.root / "d", {"a.txt": "a"})
    os.mkfifo(data / "pipe")
    (data / "dead").symlink_to(data / "nowhere")
    import socket

    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(data / "sock"))
        s = snapshots.create(repo, data)
    finally:
        sock.close()
    assert s.files == 1
    [w] = [w for w in s.warnings if "skipped" in w]
    assert "pipe (FIFO)" in w and "dead (dangling link)" in w and "sock (socket)" in w


def test_links_leading_outside_the_repository_are_named(repo, tmp_path, cli):
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s", "dir/f.txt": "f"})
    data = write_tree(repo.root / "d", {"a.txt": "a", "inner.txt": "i"})
    (data / "file-link").symlink_to(outside / "secret.txt")
    (data / "dir-link").symlink_to(outside / "dir")
    (data / "inside-link").symlink_to(data / "inner.txt")
    r = cli("snapshot", "d")
    assert r.code == 0
    assert "2 symbolic link(s) leading outside the repository" in r.stderr
    assert "file-link" in r.stderr and "dir-link" in r.stderr and "inside-link" not in r.stderr


def test_checkout_into_an_unwritable_place_is_one_line(cli, workdir, tmp_path):
    write_tree(workdir / "d", {"a.txt": "a"})
    assert cli("snapshot", "d").code == 0
    r = cli("checkout", "d", "/proc/lineage-test/out")
    assert r.code == 2 and r.stderr.startswith("error: cannot write /proc/")
    assert len(r.stderr.strip().splitlines()) == 1 and "unexpected" not in r.stderr
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            r = cli("checkout", "d", str(ro / "out"))
        finally:
            ro.chmod(0o755)
        assert r.code == 2 and "cannot write" in r.stderr and "Permission denied" in r.stderr


def test_snapshot_of_git_or_lineage_state_is_refused(workdir, cli):
    hooks = workdir / ".git" / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    (hooks / "post-checkout").write_text("#!/bin/sh\necho hi\n")
    for target in (".git/hooks/post-checkout", ".lineage", ".lineage/config.toml", ".GIT/hooks"):
        r = cli("snapshot", target)
        assert r.code == 2 and "refusing to snapshot" in r.stderr, (target, r.stderr)
    assert cli("log", "--json").json["snapshots"] == []
