"""Fuzzing the config loader: whatever bytes are in ``.lineage/config.toml`` or
``pyproject.toml``, loading them and reading settings from them gives a dict or a
``LineageError`` (exit 2 from the CLI), never another exception or a traceback.

Budgets come from the hypothesis profile in conftest.py (``make soak`` runs long).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage import config
from lineage.errors import LineageError
from conftest import make_git_repo
from .conftest import lineage_proc

# real keys mixed with secret-looking and random ones, so the generator reaches both the
# type checks and the secret refusals
KEYS = st.one_of(
    st.sampled_from([
        "core", "link", "store", "remote", "remotes", "origin", "url", "endpoint_url", "profile",
        "region", "retries", "jobs", "pack_size", "connect_timeout", "tabular", "max_rows",
        "datasets", "audit", "rules", "guard", "max_size", "label", "fail-on", "disable",
        "password", "token", "aws_secret_access_key", "max_tokens", "tool", "lineage",
    ]),
    st.text(min_size=1, max_size=12),
)
SCALARS = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["copy", "s3://b/p", "/tmp/r", "https://h:1", "https://u:pw@h",
                     "AKIAIOSFODNN7EXAMPLE", "eu-west-1", "10MB"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=20)
DOCS = st.dictionaries(KEYS, VALUES, max_size=6)


def _load_and_read(folder: Path, data: bytes) -> None:
    """Load ``data`` as config.toml and as pyproject.toml and read every setting lineage reads."""
    from lineage.sync import remotes
    from lineage.audit import AuditConfig
    from lineage.hooks.guard import GuardConfig
    from lineage.repo import Repo
    from lineage.snapshots.add import _declared_columns

    (folder / ".lineage").mkdir(exist_ok=True)
    (folder / ".lineage" / "config.toml").write_bytes(data)
    (folder / "pyproject.toml").write_bytes(data)
    repo = Repo(folder)
    steps = [
        lambda: repo.config,
        lambda: repo.link_mode,
        lambda: [r.to_dict() for r in remotes.list_remotes(repo)],
        lambda: remotes.get(repo),
        lambda: config.tabular_limits(repo.config),
        lambda: config.pyproject_settings(folder),
        lambda: AuditConfig.load(repo),
        lambda: GuardConfig.load(folder),
        lambda: _declared_columns(repo, "origin", {}),
    ]
    for step in steps:
        try:
            step()
        except LineageError as exc:
            text = str(exc)
            assert text and "\n" not in text, text
            assert "AKIAIOSFODNN7EXAMPLE" not in text and "pw@" not in text, text


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(folder, data):
    _load_and_read(folder, data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_arbitrary_text(folder, text):
    _load_and_read(folder, text.encode("utf-8", "surrogatepass"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_arbitrary_valid_toml(folder, doc: dict[str, Any]):
    _load_and_read(folder, tomli_w.dumps(doc).encode())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_arbitrary_toml_under_tool_lineage(folder, doc: dict[str, Any]):
    _load_and_read(folder, tomli_w.dumps({"tool": {"lineage": doc}}).encode())


NASTY = [
    b"\xff\xfe\x00garbage",                                   # not UTF-8
    b"[core\nlink = ",                                         # not TOML
    b"core = 1\n",                                              # a section that is not a table
    b'[core]\nlink = ["copy"]\n',                               # a value of the wrong type
    b'[remotes]\norigin = "s3://b/p"\n',                        # a remote that is not a table
    b'[remotes.origin]\nurl = "s3://b/p"\nretries = "many"\n',  # an option of the wrong type
    b'[remotes.origin]\nurl = "s3://b/p"\nsecret_key = "AKIAIOSFODNN7EXAMPLE"\n',
    b"a = " + b"[" * 2000 + b"]" * 2000 + b"\n",                # nested deeper than the parser recurses
]


@pytest.mark.parametrize("data", NASTY)
def test_cli_exits_2_with_one_line(tmp_path, data):
    work = make_git_repo(tmp_path / "w")
    assert lineage_proc(["init"], work).returncode == 0
    (work / ".lineage" / "config.toml").write_bytes(data)
    for args in (["remote", "list", "--json"], ["push"]):
        proc = lineage_proc(args, work)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == "", proc.stderr
        assert "AKIAIOSFODNN7EXAMPLE" not in proc.stderr
