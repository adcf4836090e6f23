"""Credentials typed anywhere are masked before they are recorded, or refused.

The end-to-end test plants canaries in every place a user can type one (the wrapped
command, environment assignments in it, --param, the Python API, run errors, metric
names, snapshot messages, remote URLs), runs the commands that write, push and export,
and greps every byte the tool wrote and printed. Secrets in the config are refused when
the file is loaded. Rules: lineage/redact.py; documented in docs/runs.md.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from lineage.core import redact
from lineage.errors import ConfigError, UsageError
from conftest import make_git_repo, write_tree
from .conftest import lineage_proc

MARK = "canary7f3a"  # every canary but the JWT carries it (compared case-insensitively)
AWS_KEY = "AKIACANARY7F3A000001"
AWS_KEY2 = "AKIACANARY7F3A000002"
AWS_KEY3 = "AKIACANARY7F3A000003"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYcanary7f3a"  # high entropy, no name next to it
# a JWT ({"alg":"HS256","typ":"JWT"}.{"sub":"1234567890"}.signature); its signature is the needle
JWT_SIG = "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + JWT_SIG
NEEDLES = [MARK, JWT_SIG, JWT_SIG[:20], "wJalrXUtnFEMI"]


def canary(place: str) -> str:
    return f"SECRET-CANARY7F3A-{place}"


# -- the rules, case by case ---------------------------------------------------------

MASKED_COMMANDS = [
    (["env", f"AWS_SECRET_ACCESS_KEY={canary('env')}", "python", "t.py"],
     ["env", "AWS_SECRET_ACCESS_KEY=***", "python", "t.py"]),
    (["curl", "-H", f"Authorization: Bearer {canary('h')}", "https://h/x"],
     ["curl", "-H", "Authorization: ***", "https://h/x"]),
    (["curl", "-H", f"X-Api-Key: {canary('h')}"], ["curl", "-H", "X-Api-Key: ***"]),
    (["t.py", "--password", "hunter2", "--token=abc", "--api-key", "k"],
     ["t.py", "--password", "***", "--token=***", "--api-key", "***"]),
    (["psql", f"postgres://u:{canary('url')}@h/db"], ["psql", "postgres://u:***@h/db"]),
    (["redis-cli", "-u", "redis://:pw@h:6379/0"], ["redis-cli", "-u", "redis://:***@h:6379/0"]),
    (["get", f"https://h/x?token={canary('q')}&page=2"], ["get", "https://h/x?token=***&page=2"]),
    (["sh", "-c", f"export GITHUB_TOKEN={canary('sh')}; mysql --password {canary('sh')} db"],
     ["sh", "-c", "export GITHUB_TOKEN=***; mysql --password *** db"]),
    (["t.py", "db.password=x", "+db.pwd=y", "--pwd", "-5"],
     ["t.py", "db.password=***", "+db.pwd=***", "--pwd", "***"]),
    # by value (detect-secrets): AWS key ID, JWT, a high-entropy key with no name
    (["t.py", AWS_KEY, JWT, AWS_SECRET], ["t.py", "***", "***", "***"]),
    (["t.py", "--cfg", '{"private_key": "abc", "client_email": "a@b.c"}'],
     ["t.py", "--cfg", '{"private_key": "***", "client_email": "a@b.c"}']),
    (["t.py", "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----"],
     ["t.py", "***"]),
]

KEPT_COMMANDS = [
    ["t.py", "--max-tokens", "9", "--token-count", "3", "--lr", "-0.1", "--use-auth-token", "--model", "m"],
    ["t.py", "--input", "test=" + "3f786850e387550fdab836ed7e6dc881de23001b" * 1 + "0" * 24],
    ["t.py", "/home/user/projects/lineage/examples/iris/data/train.csv", "data/processed/features"],
    ["t.py", "https://host:8080/path/x", "s3://team-data/lineage", "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"],
    ["t.py", "--region", "eu-west-1", "--profile", "ci", "--endpoint-url", "http://127.0.0.1:8333"],
    ["t.py", "sklearn.ensemble.RandomForestClassifier", "RandomForestClassifierWithCalibration"],
]


@pytest.mark.parametrize("argv,want", MASKED_COMMANDS)
def test_command_lines_are_masked(argv, want):
    assert redact.redact_command(argv) == want


@pytest.mark.parametrize("argv", KEPT_COMMANDS)
def test_ordinary_command_lines_are_kept(argv):
    assert redact.redact_command(argv) == argv


def test_runs_redact_command_is_still_public():
    from lineage import runs

    assert runs.redact_command is redact.redact_command
    assert "redact_command" in runs.__all__


def test_params_are_masked_by_name_and_by_value():
    got = redact.redact_params({
        "credentials_json": '{"type": "service_account"}', "pwd": 1234, "password": None,
        "db_url": "postgres://u:pw@h/db", "max_tokens": 5, "use_auth_token": True,
        "nested": {"password": "x", "keys": [AWS_KEY]}, "lr": 0.1, "note": "plain text",
    })
    assert got == {
        "credentials_json": "***", "pwd": "***", "password": None, "db_url": "postgres://u:***@h/db",
        "max_tokens": 5, "use_auth_token": True, "nested": {"password": "***", "keys": ["***"]},
        "lr": 0.1, "note": "plain text",
    }


@pytest.mark.parametrize("name,secret", [
    ("AWS_SECRET_ACCESS_KEY", True), ("aws_access_key_id", True), ("HF_TOKEN", True),
    ("accessToken", True), ("db_pwd", True), ("PASSWD", True), ("credentials_json", True),
    ("private_key_pem", True), ("x-api-key", True), ("Authorization", True), ("key", True),
    ("max_tokens", False), ("token_count", False), ("tokenizer", False), ("endpoint_url", False),
    ("region", False), ("profile", False), ("sort_key", False), ("passes", False), ("bypass", False),
])
def test_secret_names(name, secret):
    assert redact.is_secret_name(name) is secret


def test_plain_text_does_not_import_detect_secrets():
    # a command line without a key-shaped string never pays for the import (hooks, --help)
    import subprocess

    code = ("import sys; from lineage.core.redact import redact_command, redact_text; "
            "redact_command(['python', 'examples/iris/train_model.py', '--lr', '0.1']); "
            "redact_text('first snapshot of the cleaned data'); "
            "from lineage import config; config.check_secrets({'guard': {'max_size': '10MB', "
            "'data_dirs': ['data/raw/very_long_folder_name']}, 'remotes': {'o': {'url': "
            "'s3://team-data/lineage/with/a/long/prefix'}}}, 'x'); "
            "assert 'detect_secrets' not in sys.modules; "
            f"redact_command(['t.py', '{AWS_KEY}']); assert 'detect_secrets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- end to end: plant everywhere, grep everything -------------------------------------

API_SCRIPT = """
import lineage
from lineage.errors import UsageError

params = {{"api_key": "{api}", "conn": "https://svc:{apiurl}@h/x", "aws": "{aws}"}}
try:
    with lineage.run(kind="evaluate", params=params) as r:
        r.log_params({{"hf_token": "{hf}", "note": "Authorization: Bearer {bearer}"}})
        r.log_param("db_password", 123456)
        r.log_metric("accuracy", 0.9, split="test")
        try:
            r.log_metric("{metric}", 1.0)
        except UsageError as exc:
            print("refused:", exc)
        raise RuntimeError("connect failed: postgres://app:{err}@db/x")
except RuntimeError:
    pass
"""


def _grep(blobs: dict[str, bytes]) -> list[str]:
    hits = []
    for where, data in blobs.items():
        low = data.lower()
        for needle in NEEDLES:
            if needle.lower().encode() in low:
                hits.append(f"{needle!r} in {where}")
    return hits


def _files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_planted_canaries_leak_nowhere(tmp_path):
    work = make_git_repo(tmp_path / "work")
    write_tree(work, {"data/train.csv": "a,b\n1,2\n", "data/test.csv": "a,b\n3,4\n"})
    remote = tmp_path / "remote"
    exports = tmp_path / "exports"
    exports.mkdir()
    # a real credential in the environment of every command: never recorded either
    env = {"AWS_SECRET_ACCESS_KEY": canary("real-env"), "LINEAGE_USER": "Test User <t@example.com>"}
    printed: dict[str, bytes] = {}

    def lin(*args: str, ok: bool = True) -> str:
        proc = lineage_proc(list(args), work, env=env)
        key = f"lineage {args[:3]} #{len(printed)}"
        printed[key + " stdout"] = proc.stdout.encode()
        printed[key + " stderr"] = proc.stderr.encode()
        assert "Traceback" not in proc.stderr, proc.stderr
        if ok:
            assert proc.returncode == 0, (args, proc.stderr)
        else:
            assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        return proc.stdout

    lin("init")
    lin("remote", "add", "origin", str(remote), "--default")
    # remote URLs with credentials are refused without echoing them
    lin("remote", "add", "evil", f"s3://{AWS_KEY}:{canary('remote')}@bucket/p", ok=False)
    lin("remote", "add", "evil", "s3://bucket/p", "--endpoint-url", f"ftp://u:{canary('ep')}@h", ok=False)
    lin("remote", "add", "evil", f"s3://bucket/p?token={canary('query')}", ok=False)
    lin("snapshot", "data/train.csv", "--message",
        f"rotated password={canary('msg')}, key {AWS_KEY2}, see https://u:{canary('msgurl')}@h")
    lin("snapshot", "data/test.csv", "--message", f"with {JWT} inside")
    # the wrapped command: environment assignment, header, options, URL, bare keys
    lin("run", "--kind", "train", "--input", "train=data/train.csv",
        "--param", f"pwd={canary('p-pwd')}",
        "--param", 'credentials_json={"private_key": "' + canary("p-json") + '"}',
        "--param", f"db_url=postgres://u:{canary('p-url')}@h/db",
        "--param", f"note={AWS_KEY3}", "--param", "max_tokens=512",
        "--", "env", f"AWS_SECRET_ACCESS_KEY={canary('argv-env')}", "true",
        "-H", f"Authorization: Bearer {canary('argv-bearer')}", f"--password={canary('argv-pw')}",
        "--token", canary("argv-tok"), f"postgres://u:{canary('argv-url')}@h/db", AWS_KEY, JWT, AWS_SECRET)
    # an orchestrator's run: start with a command, params, a refused metric name, an error
    rid = lin("run", "start", "--kind", "evaluate", "--param", f"api_key={canary('s-api')}",
              "--", "score.py", "--secret", canary("s-argv")).strip().split()[-1]
    lin("run", "param", rid, f"hf_token={canary('s-hf')}", f"conn=https://u:{canary('s-url')}@h")
    lin("run", "metric", rid, AWS_KEY3, "1.0", ok=False)
    lin("run", "metric", rid, "accuracy", "0.5", "--split", "test")
    lin("run", "finish", rid, "--exit-code", "1", "--error", f"login failed: token={canary('s-err')}")
    # the Python API, run as a real script whose argv holds a credential too
    script = tmp_path / "api_script.py"
    script.write_text(textwrap.dedent(API_SCRIPT.format(
        api=canary("api"), apiurl=canary("api-url"), aws=AWS_KEY2, hf=canary("api-hf"),
        bearer=canary("api-bearer"), metric=AWS_KEY, err=canary("api-err"))))
    import subprocess

    proc = subprocess.run([sys.executable, str(script), "--api-token", canary("api-argv")], cwd=work,
                          capture_output=True, text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert "refused: refusing a metric name that looks like a credential" in proc.stdout
    printed["api script stdout"], printed["api script stderr"] = proc.stdout.encode(), proc.stderr.encode()

    # everything that reads, prints, pushes and exports
    runs = json.loads(lin("log", "--runs", "--json"))
    ids = [r["run_id"] for r in (runs["runs"] if isinstance(runs, dict) else runs)]
    assert len(ids) == 3
    for run_id in ids:
        lin("show", run_id, "--json")
        lin("show", run_id)
    lin("log", "--json")
    lin("log")
    lin("status", "--json")
    lin("query", "SELECT * FROM events", "--json", "--limit", "0")
    lin("query", "SELECT * FROM runs")
    lin("export", "openlineage", "--all", "-o", str(exports / "ol.jsonl"))
    lin("export", "prov", "--all", "-o", str(exports / "prov.json"))
    lin("push")
    lin("remote", "list", "--json")
    lin("verify")

    recorded = json.loads(lin("show", ids[-1], "--json")) if ids else {}
    blobs = {**printed, **_files(work / ".lineage"), **_files(remote), **_files(exports)}
    assert _grep(blobs) == []
    # masked, not dropped: the record still says which option and parameter were given
    everything = b"".join(blobs.values()).decode("utf-8", "replace")
    for shown in ("AWS_SECRET_ACCESS_KEY=***", "Authorization: ***", "--password=***",
                  "postgres://u:***@h/db", "password=***", '"pwd": "***"', "max_tokens"):
        assert shown in everything, shown
    assert recorded


# -- config: refused when loaded ---------------------------------------------------------

@pytest.mark.parametrize("toml,key", [
    ('[remotes.origin]\nurl = "s3://b/p"\naws_secret_access_key = "{c}"\n', "remotes.origin.aws_secret_access_key"),
    ('[remotes.origin]\nurl = "s3://b/p"\npassword = "{c}"\n', "remotes.origin.password"),
    ('[core]\nlink = "copy"\ntoken = "{c}"\n', "core.token"),
    ('[remotes.origin]\nurl = "s3://{aws}:{c}@b/p"\n', "remotes.origin.url"),
    ('[remotes.origin]\nurl = "s3://b/p"\nendpoint_url = "https://u:{c}@h"\n', "remotes.origin.endpoint_url"),
    ('[remotes.origin]\nurl = "s3://b/p"\nprofile = "{aws}"\n', "remotes.origin.profile"),
    ('[extra]\napi_key = "{c}"\n', "extra.api_key"),
])
def test_secret_in_config_is_refused_when_loaded(cli, workdir, toml, key):
    secret = canary("cfg")
    (workdir / ".lineage" / "config.toml").write_text(toml.format(c=secret, aws=AWS_KEY))
    write_tree(workdir, {"data/a.csv": "a\n1\n"})
    for args in (["remote", "list", "--json"], ["remote", "list"], ["push"], ["snapshot", "data/a.csv"]):
        r = cli(*args)
        assert r.code == 2, (args, r.stdout, r.stderr)
        assert r.stdout == "" and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert key in r.stderr and "config.toml" in r.stderr, r.stderr
        assert MARK not in r.stderr.lower() and AWS_KEY not in r.stderr


def test_secret_in_pyproject_is_refused(cli, workdir):
    (workdir / "pyproject.toml").write_text(
        f'[tool.lineage.guard]\nmax_size = "10MB"\n\n[tool.lineage.audit]\ngithub_token = "{canary("pp")}"\n')
    write_tree(workdir, {"data/a.csv": "a\n1\n"})
    for args in (["audit", "--all"], ["snapshot", "data/a.csv"]):
        r = cli(*args)
        assert r.code == 2 and "Traceback" not in r.stderr, r.stderr
        assert "audit.github_token" in r.stderr and "pyproject.toml" in r.stderr
        assert MARK not in r.stderr.lower()


def test_a_key_that_is_itself_a_credential_is_not_named(tmp_path):
    from lineage import config

    path = tmp_path / "config.toml"
    path.write_text(f'[core]\n{AWS_KEY} = 1\n')
    with pytest.raises(ConfigError) as exc:
        config.load(path)
    assert AWS_KEY not in str(exc.value) and "config.toml" in str(exc.value)


def test_ordinary_config_still_loads(cli, workdir):
    """What users legitimately write: endpoint, region, profile, timeouts, and names of
    their own choosing that merely contain a secret-looking word."""
    (workdir / ".lineage" / "config.toml").write_text(textwrap.dedent("""\
        [core]
        link = "copy"
        remote = "token-store"

        [remotes.token-store]
        url = "s3://team-data/lineage"
        endpoint_url = "https://s3.eu-west-1.example.com:8443"
        region = "eu-west-1"
        profile = "ci-readonly"
        connect_timeout = 5
        retries = 2
        """))
    (workdir / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.lineage.datasets."data/tokens.csv"]
        label = "label"
        text = "token_text"

        [tool.lineage.guard]
        max_size = "50MB"
        """))
    r = cli("remote", "list", "--json")
    assert r.code == 0, r.stderr
    (got,) = r.json["remotes"]
    assert got["name"] == "token-store" and got["options"]["profile"] == "ci-readonly"
    assert got["options"]["endpoint_url"] == "https://s3.eu-west-1.example.com:8443"
    write_tree(workdir, {"data/tokens.csv": "token_text,label\nhello,1\n"})
    assert cli("snapshot", "data/tokens.csv").code == 0


def test_writing_a_secret_is_refused_and_the_file_is_unchanged(repo, workdir):
    from lineage.sync import remotes

    before = (workdir / ".lineage" / "config.toml").read_bytes()
    with pytest.raises(ConfigError, match="credentials"):
        remotes.add(repo, "x", "s3://b/p", aws_secret_access_key=canary("w"))
    with pytest.raises(UsageError) as exc:
        remotes.add(repo, "x", "s3://b/p", endpoint_url=f"ftp://u:{canary('w')}@h")
    assert MARK not in str(exc.value).lower()
    assert (workdir / ".lineage" / "config.toml").read_bytes() == before


def test_remote_list_masks_whatever_reaches_it():
    from lineage.sync.remotes import Remote

    r = Remote("x", f"https://u:{canary('l')}@h/p", False, {"token": canary("l"), "region": "eu"})
    shown = json.dumps(r.to_dict())
    assert MARK not in shown.lower() and '"region": "eu"' in shown and '"token": "***"' in shown


def test_imported_dvc_params_are_masked(repo):
    from lineage import runs

    runs.record_imported(repo, "dvc-stage-1", kind="train",
                         command=f"python train.py --password {canary('dvc')}",
                         params={"db_password": canary("dvc"), "lr": 0.1},
                         inputs=[], outputs=[], note="dvc.lock")
    body = json.dumps(runs.load(repo, "dvc-stage-1").to_dict(), default=str)
    assert MARK not in body.lower() and "--password '***'" in body
