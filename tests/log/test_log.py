import sqlite3

import pytest

from lineage.log import Graph
from lineage.log import migrations
from lineage.log.events import Event


@pytest.fixture
def graph(tmp_path):
    g = Graph.open(tmp_path / "g.db", create=True)
    yield g
    g.close()


def test_events_chain_to_their_parents(graph):
    a = graph.append("note", {"n": 1}, actor="ann")
    b = graph.append("note", {"n": 2}, actor="ann")
    assert a.parents == ()
    assert b.parents == (a.id,)
    assert graph.heads() == [b.id]
    assert a.id == a.compute_id() and len(a.id) == 64
    assert graph.verify_log() == []


def test_log_refuses_update_and_delete(graph):
    graph.append("note", {"n": 1}, actor="ann")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        graph.conn.execute("UPDATE events SET body = '{}'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        graph.conn.execute("DELETE FROM events")


def test_verify_catches_a_tampered_row(graph):
    graph.append("note", {"n": 1}, actor="ann")
    graph.append("note", {"n": 2}, actor="ann")
    graph.conn.execute("DROP TRIGGER events_append_only_update")
    graph.conn.execute("UPDATE events SET body = '{\"n\":99}' WHERE seq = 1")
    problems = graph.verify_log()
    assert problems and "altered" in problems[0]


def test_verify_catches_a_rewritten_event_with_a_fresh_id(graph):
    a = graph.append("note", {"n": 1}, actor="ann")
    graph.append("note", {"n": 2}, actor="ann")
    forged = Event.create("note", {"n": 99}, actor="ann", parents=(), time=a.time)
    graph.conn.execute("DROP TRIGGER events_append_only_update")
    graph.conn.execute("UPDATE events SET id = ?, body = ? WHERE seq = 1", (forged.id, '{"n":99}'))
    assert any("missing" in p for p in graph.verify_log())


def test_two_clones_merge_without_conflict_in_any_order(tmp_path):
    base = Graph.open(tmp_path / "base.db", create=True)
    root = base.append("dataset.declare", {"name": "d", "path": "d", "columns": {}}, actor="ann")
    left = Graph.open(tmp_path / "left.db", create=True)
    right = Graph.open(tmp_path / "right.db", create=True)
    left.ingest([root])
    right.ingest([root])
    l1 = left.append("note", {"side": "left"}, actor="ann", time="2026-01-01T00:00:01.000000Z")
    r1 = right.append("note", {"side": "right"}, actor="bob", time="2026-01-01T00:00:02.000000Z")
    assert left.ingest(right.events()) == 1
    assert right.ingest(reversed(list(left.events()))) == 1
    assert left.event_ids() == right.event_ids()
    assert sorted(left.heads()) == sorted([l1.id, r1.id])
    merged = left.append("note", {"after": "merge"}, actor="ann")
    assert set(merged.parents) == {l1.id, r1.id}
    assert left.verify_log() == [] and right.verify_log() == []


def test_ingest_refuses_an_event_that_does_not_match_its_id(graph):
    ev = Event.create("note", {"n": 1}, actor="ann", parents=())
    bad = Event(ev.type, ev.time, ev.actor, ev.parents, {"n": 2}, ev.id)
    from lineage.errors import IntegrityError

    with pytest.raises(IntegrityError):
        graph.ingest([bad])


def test_event_round_trips_through_bytes_and_dict():
    ev = Event.create("snapshot", {"snapshot_id": "a" * 64, "unicode": "café"}, actor="ann", parents=("b" * 64,))
    assert Event.decode(ev.encode()) == ev
    assert Event.from_dict(ev.to_dict()) == ev


def test_migrations_are_numbered_and_apply_from_scratch(tmp_path):
    migrations.load()  # the modules that register migrations of their own
    numbers = [m[0] for m in migrations.MIGRATIONS]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrations.migrate(conn) == numbers
    assert conn.execute("PRAGMA user_version").fetchone()[0] == numbers[-1]
    assert migrations.migrate(conn) == []
    for table in migrations.PROJECTION_TABLES:
        conn.execute(f"SELECT * FROM {table} LIMIT 0")


def test_a_failed_migration_rolls_back(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)

    def broken(c):
        c.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    migrations.MIGRATIONS.append((10_000, "broken", broken))
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(conn)
    finally:
        migrations.MIGRATIONS.pop()
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.current_version()


def test_heads_survive_the_upgrade_that_introduced_them(tmp_path):
    g = Graph.open(tmp_path / "g.db", create=True)
    g.append("note", {"n": 1}, actor="ann")
    last = g.append("note", {"n": 2}, actor="ann")
    g.conn.execute("DROP TABLE event_heads")
    g.conn.execute("DROP TABLE waiver_revocations")  # and what migration 8 added
    g.conn.execute("ALTER TABLE waivers DROP COLUMN expires")
    g.conn.execute("ALTER TABLE waivers DROP COLUMN forced")
    g.conn.execute("ALTER TABLE datasets DROP COLUMN tracked")  # and what migration 9 added
    g.conn.execute("ALTER TABLE datasets DROP COLUMN external")
    g.conn.execute("DROP VIEW file_rows")  # and what migration 10 added
    g.conn.execute("DROP INDEX tabular_files_rows_key")
    g.conn.execute("ALTER TABLE tabular_files DROP COLUMN rows_key")
    g.conn.execute("DROP TABLE snapshot_references")  # and what migration 11 added
    g.conn.execute("DROP TABLE reference_files")
    g.conn.execute("PRAGMA user_version = 6")
    g.close()
    g = Graph.open(tmp_path / "g.db")
    assert g.heads() == [last.id]
    assert g.append("note", {"n": 3}, actor="ann").parents == (last.id,)
    g.close()


def test_a_fast_forward_merge_projects_the_same_tables_as_a_rebuild(tmp_path, monkeypatch):
    from lineage.log import registry as projections

    seen = []
    monkeypatch.setitem(projections._PROJECTORS, "count", [lambda conn, ev: seen.append(ev.body["n"])])
    a = Graph.open(tmp_path / "a.db", create=True)
    b = Graph.open(tmp_path / "b.db", create=True)
    first = [a.append("count", {"n": i}, actor="ann") for i in range(3)]
    b.ingest(first)
    seen.clear()
    later = [a.append("count", {"n": i}, actor="ann") for i in range(3, 6)]
    seen.clear()  # (a projected its own appends)
    b.ingest(reversed(later))            # b is behind a: only the new events are projected
    assert seen == [3, 4, 5]
    b.append("count", {"n": 99}, actor="bob")   # now b has a head a lacks
    seen.clear()
    a.append("count", {"n": 6}, actor="ann")
    seen.clear()
    b.ingest(a.events())                 # concurrent histories: a full, canonical rebuild
    assert sorted(seen) == [0, 1, 2, 3, 4, 5, 6, 99]


def test_a_large_body_is_inserted_once_and_hashed_as_its_bytes(graph):
    import json

    from lineage.core import canonical
    from lineage.log import graph as graph_module

    text = "é" + "x" * (graph_module._LARGE_BODY + 10)  # past the slice size, not ASCII
    a = graph.append("note", {"text": text}, actor="ann")
    b = graph.append("note", {"n": 2}, actor="ann")  # the cached insert works again after it
    rows = graph.conn.execute("SELECT id, body FROM events ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [a.id, b.id]  # the release run inserted nothing
    assert json.loads(rows[0][1]) == {"text": text}
    assert a.id == Event.decode(a.encode()).id
    assert a.encode() == canonical.dumps({"actor": "ann", "body": {"text": text}, "format": 1,
                                          "parents": [], "time": a.time, "type": "note"})
    assert graph.heads() == [b.id] and graph.verify_log() == []


def test_only_a_large_body_is_released_by_a_second_run(graph, monkeypatch):
    from lineage.log import graph as graph_module

    runs: list[str] = []
    graph.conn.set_trace_callback(lambda sql: runs.append(sql) if "INSERT INTO events " in sql else None)
    graph.append("note", {"text": "short"}, actor="ann")
    assert len(runs) == 1  # a small body stays bound: nothing to release
    monkeypatch.setattr(graph_module, "_LARGE_BODY", 10)
    runs.clear()
    last = graph.append("note", {"text": "a longer body than ten"}, actor="ann")
    assert len(runs) == 2 and runs[1].rstrip().endswith("WHERE 0")
    graph.conn.set_trace_callback(None)
    assert graph.heads() == [last.id]
    assert graph.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 2
