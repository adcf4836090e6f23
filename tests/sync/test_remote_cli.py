"""Remote commands through the CLI: config, push/pull/fetch/gc/verify --remote, JSON schemas."""

from __future__ import annotations

import time

import pytest

from conftest import CLI, make_git_repo, validate, write_tree
from lineage.store import backends
from lineage.sync import remotes
from lineage.errors import UsageError


@pytest.fixture
def two(tmp_path, capsys):
    a = make_git_repo(tmp_path / "a")
    b = make_git_repo(tmp_path / "b")
    return CLI(a, capsys), CLI(b, capsys)


def test_remote_add_list_remove(cli, workdir, tmp_path):
    r = cli("remote", "add", "origin", str(tmp_path / "store"), "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "remote.schema.json")
    assert r.json["remotes"][0] == {"name": "origin", "url": str(tmp_path / "store"),
                                    "default": True, "options": {}}  # the first becomes default
    r = cli("remote", "add", "cloud", "s3://bucket/pre/", "--endpoint-url", "http://127.0.0.1:8333",
            "--region", "eu-west-1", "--profile", "team", "--default", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "remote.schema.json")
    r = cli("remote", "list", "--json")
    validate(r.json, "remote.schema.json")
    listed = {x["name"]: x for x in r.json["remotes"]}
    assert listed["cloud"]["url"] == "s3://bucket/pre" and listed["cloud"]["default"]
    assert not listed["origin"]["default"]
    assert listed["cloud"]["options"] == {"endpoint_url": "http://127.0.0.1:8333",
                                          "profile": "team", "region": "eu-west-1"}
    text = cli("remote", "list")
    assert "cloud" in text.stdout and "s3://bucket/pre" in text.stdout
    r = cli("remote", "add", "origin", "/elsewhere")
    assert r.code == 2 and "exists" in r.stderr
    r = cli("remote", "remove", "cloud", "--json")
    assert r.code == 0
    validate(r.json, "remote.schema.json")
    assert [x["name"] for x in cli("remote", "list", "--json").json["remotes"]] == ["origin"]
    r = cli("remote", "remove", "cloud")
    assert r.code == 2 and "no remote named 'cloud'" in r.stderr


@pytest.mark.parametrize("url", ["s3://AKIAEXAMPLEKEY:verysecret@bucket/x", "s3://user@bucket/x"])
def test_url_with_credentials_is_refused_and_never_written(cli, workdir, url):
    r = cli("remote", "add", "bad", url)
    assert r.code == 2 and "embedded credentials" in r.stderr
    assert "verysecret" not in r.stderr
    config = (workdir / ".lineage" / "config.toml").read_text()
    assert "verysecret" not in config and "bad" not in config


def test_bad_remote_input(cli, workdir):
    r = cli("remote")  # a group without a command shows its help
    assert r.code == 2 and "Traceback" not in r.stderr and "add" in r.stdout + r.stderr
    assert "invalid remote name" in cli("remote", "add", "no/slash", "/x").stderr
    assert "unknown remote URL scheme" in cli("remote", "add", "x", "nosuch://b/p").stderr
    assert "endpoint URL must be" in cli("remote", "add", "x", "s3://b/p", "--endpoint-url", "ftp://h").stderr
    r = cli("push")
    assert r.code == 2 and "no default remote" in r.stderr


def test_secret_options_are_refused(repo):
    from lineage.errors import ConfigError

    with pytest.raises(ConfigError, match="credentials"):
        remotes.add(repo, "x", "s3://b/p", aws_secret_access_key="s")
    with pytest.raises(UsageError, match="unknown remote option"):
        remotes.add(repo, "x", "s3://b/p", colour="blue")


def test_remote_round_trip():
    r = remotes.Remote("origin", "s3://b/p", True, {"endpoint_url": "http://127.0.0.1:1", "retries": 1})
    assert remotes.Remote.from_dict(r.to_dict()) == r


def test_environment_endpoint_is_honoured(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111")
    assert backends._s3_kwargs({})["endpoint_url"] == "http://127.0.0.1:1111"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2222")
    assert backends._s3_kwargs({})["endpoint_url"] == "http://127.0.0.1:2222"
    assert backends._s3_kwargs({"endpoint_url": "http://127.0.0.1:3"})["endpoint_url"] == "http://127.0.0.1:3"


def test_init_with_remote(tmp_path, capsys):
    path = make_git_repo(tmp_path / "w")
    cli = CLI(path, capsys)
    r = cli("init", "--remote", "file://" + str(tmp_path / "store"), "--json")
    assert r.code == 0, r.stderr
    assert r.json["remote"]["url"] == str(tmp_path / "store") and r.json["remote"]["default"]
    assert cli("init", "--remote", str(tmp_path / "store")).code == 0  # repeatable


def test_push_pull_fetch_gc_verify_through_cli(two, tmp_path):
    a, b = two
    store = str(tmp_path / "store")
    for c in (a, b):
        assert c("init", "--remote", store).code == 0
    write_tree(a.cwd / "data", {"x.csv": "1,2\n", "sub/y.txt": "y\n"})
    sid = a("snapshot", "data", "--name", "d", "--json").json["id"]
    r = a("push", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "push.schema.json")
    # manifest, two files, and the header-only CSV's derived fingerprints and profile
    assert r.json["objects_sent"] == 5 and r.json["events_sent"] >= 1
    r = a("push")
    assert r.code == 0 and "already on origin" in r.stdout

    r = b("fetch", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "pull.schema.json")
    assert r.json["objects_received"] == 5 and not (b.cwd / "data").exists()
    r = b("pull", "--json")
    validate(r.json, "pull.schema.json")
    assert r.json["checked_out"][0]["id"] == sid
    assert (b.cwd / "data" / "sub" / "y.txt").read_text() == "y\n"
    assert b("log", "--json").json == a("log", "--json").json
    r = b("pull", "d", "--path", "x.csv", "--dest", str(tmp_path / "one"), "--json")
    assert r.code == 0, r.stderr
    assert (tmp_path / "one" / "x.csv").exists() and not (tmp_path / "one" / "sub").exists()

    r = b("verify", "--remote", "origin", "--json")
    assert r.code == 0, r.stdout
    validate(r.json, "verify.schema.json")
    assert r.json["remote"] == "origin" and r.json["ok"]

    # an object that no snapshot references is garbage; a dry run only lists it
    orphan = b("snapshot", "data", "--json")  # unchanged: nothing new
    assert orphan.code == 0
    from lineage.repo import Repo

    with Repo.find(b.cwd) as repo:
        junk = repo.store.put_bytes(b"not referenced by anything")
    r = b("gc", "--dry-run", "--json")
    validate(r.json, "gc.schema.json")
    assert [x["digest"] for x in r.json["removed"]] == [junk] and r.json["dry_run"]
    with Repo.find(b.cwd) as repo:
        assert repo.store.exists(junk)
    r = b("gc", "--json")
    validate(r.json, "gc.schema.json")
    assert r.json["removed_count"] == 1 and r.json["kept"] == 5
    with Repo.find(b.cwd) as repo:
        assert not repo.store.exists(junk)
    r = b("gc", "--remote", "origin", "--dry-run", "--grace", "0", "--json")
    validate(r.json, "gc.schema.json")
    assert r.json["target"] == "origin" and r.json["removed_count"] == 0 and r.json["kept"] == 5
    r = b("gc")
    assert "Removed 0 object(s)" in r.stdout
    assert "must not be negative" in b("gc", "--remote", "origin", "--grace", "-1").stderr
    assert b("verify").code == 0


def test_unreachable_endpoint_fails_fast_and_loses_nothing(cli, workdir, monkeypatch):
    import socket

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from lineage.repo import Repo

    with Repo.find(workdir) as repo:
        remotes.add(repo, "origin", "s3://bucket/x", default=True,
                    endpoint_url=f"http://127.0.0.1:{port}", connect_timeout=0.5, retries=1)
    write_tree(workdir / "data", {"x.csv": "1\n"})
    sid = cli("snapshot", "data", "--json").json["id"]
    before = (workdir / ".lineage" / "lineage.db").stat().st_size
    for args in (["push"], ["pull"], ["verify", "--remote", "origin"]):
        start = time.monotonic()
        r = cli(*args)
        assert r.code == 2, (args, r.stdout)
        assert "cannot reach remote 'origin'" in r.stderr and "2 attempt(s)" in r.stderr
        assert "Traceback" not in r.stderr and "test" not in r.stderr.split("attempt")[0].split("origin")[0]
        assert time.monotonic() - start < 20
    assert cli("verify").code == 0
    assert cli("show", sid).code == 0
    assert (workdir / ".lineage" / "lineage.db").stat().st_size == before
