"""Run short forms: the last 8 hex digits of a UUID run ID, resolved wherever a run ID is."""

from __future__ import annotations

import pytest

from conftest import validate
from lineage import runs
from lineage.errors import AmbiguousRefError, UnknownRefError
from lineage.runs.model import new_run_id, short_id

A = "01a2322e-f3b8-7f69-8599-0000000000aa"
B = "01a2322e-f3b8-7f69-8599-0000000000bb"
C = "01b00000-0000-7000-8000-0000000000aa"  # same tail as A, another prefix


def test_short_id_is_the_uuid_tail_and_custom_ids_are_their_own():
    rid = new_run_id()
    assert short_id(rid) == rid[-8:] and len(short_id(rid)) == 8
    assert short_id("train-2024") == "train-2024"
    assert short_id("0123456789") == "0123456789"  # not a UUID: no tail taken


def test_resolve_by_short_form_prefix_and_full_id(repo):
    runs.start(repo, "train", run_id=A)
    runs.start(repo, "evaluate", run_id=B)
    assert runs.resolve(repo, "000000aa") == A
    assert runs.resolve(repo, "000000bb") == B
    assert runs.resolve(repo, A) == A
    assert runs.resolve(repo, A[:35]) == A
    with pytest.raises(AmbiguousRefError) as e:
        runs.resolve(repo, "01a2322e")
    msg = str(e.value)
    assert A in msg and B in msg and "000000aa" in msg and "\n" not in msg
    # a short form of no run, and a tail typed shorter than the short form: nothing
    with pytest.raises(UnknownRefError):
        runs.resolve(repo, "000000cc")
    assert runs.try_resolve(repo, "0000aa") is None


def test_prefix_needs_four_characters(repo):
    runs.start(repo, "train", run_id=A)
    with pytest.raises(UnknownRefError, match="at least 4 characters"):
        runs.resolve(repo, "01a")
    assert runs.resolve(repo, "01a2") == A


def test_same_tail_lists_both_runs(repo):
    runs.start(repo, "train", run_id=A)
    runs.start(repo, "train", run_id=C)
    with pytest.raises(AmbiguousRefError) as e:
        runs.resolve(repo, "000000aa")
    assert A in str(e.value) and C in str(e.value)
    assert runs.resolve(repo, "01b0") == C


def test_short_form_in_listings_json_and_after_rebuild(cli, repo):
    runs.start(repo, "train", run_id=A)
    runs.finish(repo, A, exit_code=0)
    r = cli("log", "--runs", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "log-runs.schema.json")
    assert r.json["runs"][0]["run_id"] == A and r.json["runs"][0]["short_id"] == "000000aa"
    r = cli("show", "000000aa", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "run-show.schema.json")
    assert r.json["run_id"] == A and r.json["short_id"] == "000000aa"
    assert "000000aa" in cli("show", "000000aa").stdout
    assert "000000aa" in cli("log", "--runs", "--format", "table").stdout or \
        "000000aa" in cli("log", "--runs").stdout
    # commands that take run IDs accept it too
    assert cli("provenance", "000000aa").code == 0
    assert cli("audit", "000000aa", "--format", "json").code in (0, 1)
    assert cli("export", "prov", "000000aa").code == 0
    assert cli("rebuild").code == 0
    assert cli("show", "000000aa", "--json").json["run_id"] == A


def test_ambiguous_and_short_prefix_on_the_command_line(cli, repo):
    runs.start(repo, "train", run_id=A)
    runs.start(repo, "train", run_id=B)
    r = cli("show", "01a2322e")
    assert r.code == 2 and "Traceback" not in r.stderr
    assert A in r.stderr and B in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("show", "663")
    assert r.code == 2 and "at least 4 characters" in r.stderr
    r = cli("audit", "01a")
    assert r.code == 2 and "at least 4 characters" in r.stderr
    r = cli("show", "ffffffff")  # an unknown short form: no misleading suggestion
    assert r.code == 2 and "did you mean" not in r.stderr.lower()
