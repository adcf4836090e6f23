"""Two clones snapshot one dataset concurrently: each keeps its own NAME@N after a pull."""

from __future__ import annotations

from conftest import CLI, validate
from lineage import snapshots
from lineage.log.integrity import check_audit_tables, check_projections
from lineage.snapshots import queries
from lineage.sync import fetch as sync_fetch, push as sync_push, verify as sync_verify


def _diverge(make_clone, local_remote):
    a = make_clone("a", local_remote)
    (a.root / "wine.txt").write_text("x,y\n1,2\n")
    first = snapshots.create(a, a.root / "wine.txt", name="wine-test")
    sync_push.push(a)
    b = make_clone("b", local_remote)
    sync_fetch.pull(b)
    (a.root / "wine.txt").write_text("x,y\n1,2\n3,4\n")
    theirs = snapshots.create(a, a.root / "wine.txt", name="wine-test")
    (b.root / "wine.txt").write_text("x,y\n1,2\n5,6\n")
    yours = snapshots.create(b, b.root / "wine.txt", name="wine-test")
    assert theirs.version == yours.version == 2 and theirs.id != yours.id
    sync_push.push(a)
    return a, b, first, theirs, yours


def test_pull_keeps_local_numbers_and_says_so(make_clone, local_remote):
    a, b, first, theirs, yours = _diverge(make_clone, local_remote)
    result = sync_fetch.pull(b)
    # the local @2 still means the local snapshot; theirs is @3 here
    assert snapshots.resolve(b, "wine-test@2") == yours.id
    assert snapshots.resolve(b, "wine-test@3") == theirs.id
    assert snapshots.resolve(b, "wine-test@1") == first.id
    assert result.diverged == [{"dataset": "wine-test",
                                "yours": {"version": 2, "snapshot": yours.id},
                                "theirs": {"version": 3, "snapshot": theirs.id}}]
    assert result.warnings[0].startswith(f"wine-test: yours @2 = {yours.id[:6]}…, theirs "
                                         f"{theirs.id[:6]}… recorded as @3")
    assert "lineage checkout wine-test@3" in result.warnings[0]
    validate(result.to_dict(), "pull.schema.json")
    # pull leaves a diverged dataset as it is until the user picks
    assert (b.root / "wine.txt").read_text() == "x,y\n1,2\n5,6\n"
    # rebuild and verify's replay give the same numbers
    before = queries.records_of_dataset(b.graph, "wine-test")
    b.graph.rebuild()
    assert queries.records_of_dataset(b.graph, "wine-test") == before
    assert check_projections(b.graph) == []
    assert check_audit_tables(b.graph) == []
    assert sync_verify.verify(b).ok
    # the other clone keeps its own @2 in turn
    sync_push.push(b)
    back = sync_fetch.pull(a)
    assert snapshots.resolve(a, "wine-test@2") == theirs.id
    assert snapshots.resolve(a, "wine-test@3") == yours.id
    assert [d["dataset"] for d in back.diverged] == ["wine-test"]
    assert check_projections(a.graph) == []
    # a fresh clone has no numbers of its own to keep, and nothing to report
    c = make_clone("c", local_remote)
    fresh = sync_fetch.fetch(c)
    assert fresh.diverged == [] and fresh.warnings == []
    assert {queries.snapshot_at_version(c.graph, "wine-test", v) for v in (2, 3)} == {yours.id, theirs.id}


def test_pull_of_a_descendant_is_not_divergence(make_clone, local_remote):
    a = make_clone("a", local_remote)
    (a.root / "wine.txt").write_text("x\n1\n")
    snapshots.create(a, a.root / "wine.txt", name="wine-test")
    sync_push.push(a)
    b = make_clone("b", local_remote)
    sync_fetch.pull(b)
    (a.root / "wine.txt").write_text("x\n1\n2\n")
    second = snapshots.create(a, a.root / "wine.txt", name="wine-test")
    sync_push.push(a)
    result = sync_fetch.pull(b)
    assert result.diverged == [] and result.warnings == []
    assert snapshots.resolve(b, "wine-test@2") == second.id
    assert (b.root / "wine.txt").read_text() == "x\n1\n2\n"


def test_pull_cli_prints_one_line_per_dataset(make_clone, local_remote, capsys):
    a, b, _, theirs, yours = _diverge(make_clone, local_remote)
    b.close()
    r = CLI(b.root, capsys)("pull")
    assert r.code == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("warning: wine-test:") or
             line.startswith("wine-test:") or "wine-test: yours" in line]
    assert len(lines) == 1 and "recorded as @3" in lines[0]
    r = CLI(b.root, capsys)("rebuild")
    assert r.code == 0, r.stderr
    r = CLI(b.root, capsys)("verify")
    assert r.code == 0, r.stdout + r.stderr
    r = CLI(b.root, capsys)("show", "wine-test@2", "--json")
    assert yours.id in r.stdout
