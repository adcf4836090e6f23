"""The reference resolver, fed arbitrary text: it answers with a snapshot ID or a
LineageError, never anything else (a CLI user sees one line and exit code 2)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_tree
from lineage import snapshots
from lineage.errors import LineageError, RefError

REF_LIKE = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[a-z][a-z0-9_-]{0,12}(@(latest|[0-9]{1,4}|[a-z0-9]{0,6}))?", fullmatch=True),
    st.from_regex(r"[0-9a-f]{1,70}", fullmatch=True),
    st.from_regex(r"(md5|dvc|s3|run|x):[ -~]{0,40}", fullmatch=True),
    st.from_regex(r"(\.\./|/|~/)?[ -~]{0,30}", fullmatch=True),
)


def _repo_with_history(repo, workdir):
    write_tree(workdir / "data", {"a.csv": "x,y\n1,2\n", "b.txt": "b"})
    first = snapshots.create(repo, workdir / "data", name="data")
    (workdir / "data" / "b.txt").write_text("changed")
    second = snapshots.create(repo, workdir / "data")
    return {first.id, second.id}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ref=REF_LIKE)
def test_resolve_answers_an_id_or_a_lineage_error(repo, workdir, ref):
    known = getattr(repo, "_fuzz_known", None)
    if known is None:
        known = repo._fuzz_known = _repo_with_history(repo, workdir)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        sid = snapshots.resolve(repo, ref)
    except LineageError:
        return
    finally:
        os.chdir(old)
    assert sid in known


def test_known_forms_resolve(repo, workdir):
    ids = _repo_with_history(repo, workdir)
    latest = snapshots.resolve(repo, "data@latest")
    first = snapshots.resolve(repo, "data@1")
    assert {latest, first} == ids
    assert snapshots.resolve(repo, "data") == latest
    assert snapshots.resolve(repo, latest[:8]) == latest
    for bad in ("data@9", "nope", "data@", "0000", "\x00", "data@-1"):
        try:
            snapshots.resolve(repo, bad)
        except (RefError, LineageError):
            continue
        raise AssertionError(f"{bad!r} resolved")
