"""The audit trusts only derived tables that match the event log.

A row deleted or changed with plain sqlite3 would turn a finding into a PASS; the
audit checks the tables it reads against its kept replay of the log and refuses (exit
2, one line naming the table and ``lineage rebuild``).
"""

from __future__ import annotations

import sqlite3

import pytest

from conftest import CLI
from audit.conftest import clean_pipeline
from lineage.errors import IntegrityError
from lineage.log import integrity


@pytest.fixture
def tuned(lab):
    """A tune run that read the test set, and the evaluation downstream of it."""
    ids = clean_pipeline(lab)
    lab.write("models/best.json", '{"C": 1}')
    ids["tune"] = lab.run("tune", [("train", "data/train_s.csv"), ("validation", "data/test_s.csv")],
                          ["models/best.json"])
    lab.write("models/tuned.pkl", "tuned")
    lab.run("train", [("train", "data/train_s.csv"), ("model", "models/best.json")], ["models/tuned.pkl"])
    ids["tuned_eval"] = lab.run("evaluate", [("model", "models/tuned.pkl"), ("test", "data/test_s.csv")],
                                metrics=[("accuracy", 0.9, "test")])
    return ids


def _sql(lab, sql: str, *args) -> None:
    conn = sqlite3.connect(lab.root / ".lineage" / "lineage.db", isolation_level=None)
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


def _cli(lab, capsys, *args):
    return CLI(lab.root, capsys)(*args)


def test_a_clean_repository_is_audited_and_the_replay_is_kept(tuned, lab):
    report = lab.audit(tuned["tuned_eval"], ["tune-read-test"])
    assert [f.rule for f in report.findings] == ["tune-read-test"]
    assert (lab.root / ".lineage" / integrity.REPLAY_DB).exists()
    # more work recorded: only the new events are replayed, and the audit still runs
    lab.run("evaluate", [("model", "models/tuned.pkl")])
    assert integrity.check_audit_tables(lab.repo.graph) == []
    assert lab.slugs(tuned["evaluate"], at_least="error") == set()


def test_deleted_tune_runs_make_the_audit_refuse(tuned, lab, capsys):
    assert lab.slugs(tuned["tuned_eval"], ["tune-read-test"]) == {"tune-read-test"}
    _sql(lab, "DELETE FROM runs WHERE kind = 'tune'")
    with pytest.raises(IntegrityError) as err:
        lab.audit(tuned["tuned_eval"], ["tune-read-test"])
    assert str(err.value).startswith("table runs differs from the event log (")
    assert str(err.value).endswith("run 'lineage rebuild'") and "\n" not in str(err.value)
    r = _cli(lab, capsys, "audit", tuned["tuned_eval"])
    assert r.code == 2 and r.stdout == ""
    [line] = r.stderr.strip().splitlines()
    assert "table runs differs from the event log" in line and "lineage rebuild" in line
    assert "tune-read-test" not in r.stdout  # no report at all, let alone a PASS
    assert _cli(lab, capsys, "rebuild").code == 0
    assert lab.slugs(tuned["tuned_eval"], ["tune-read-test"]) == {"tune-read-test"}


def test_one_role_changed_in_run_input_records_makes_the_audit_refuse(tuned, lab, capsys):
    _sql(lab, "UPDATE run_input_records SET role = 'other' WHERE run_id = ? AND role = 'validation'",
         tuned["tune"])
    r = _cli(lab, capsys, "audit", "--all")
    assert r.code == 2 and "table run_input_records differs from the event log" in r.stderr
    assert "1 row(s) changed or replaced" in r.stderr


@pytest.mark.parametrize("table, sql", [
    ("metrics", "UPDATE metrics SET split = 'validation' WHERE split = 'test'"),
    ("run_output_records", "DELETE FROM run_output_records"),
    ("edges_up", "DELETE FROM edges_up WHERE kind = 'input'"),
    ("tabular_files", "UPDATE tabular_files SET rows = rows + 1"),
    ("snapshot_records", "UPDATE snapshot_records SET stored = 0"),
    ("runs", "INSERT INTO runs (run_id, kind, status, started, start_event) VALUES ('planted', 'train', 'ok', '2000', 'x')"),
])
def test_every_projection_table_is_checked(tuned, lab, table, sql):
    lab.audit(tuned["evaluate"])  # the replay is kept and current
    _sql(lab, sql)
    with pytest.raises(IntegrityError, match=f"^table {table} differs from the event log"):
        lab.audit(tuned["evaluate"])


def test_a_damaged_or_stale_replay_never_causes_a_refusal(tuned, lab):
    replay = lab.root / ".lineage" / integrity.REPLAY_DB
    lab.audit(tuned["evaluate"])
    conn = sqlite3.connect(replay, isolation_level=None)
    conn.execute("DELETE FROM runs")  # the cache is wrong, the repository is not
    conn.close()
    assert lab.slugs(tuned["evaluate"], at_least="error") == set()
    replay.write_bytes(b"not a database" * 100)
    assert lab.slugs(tuned["evaluate"], at_least="error") == set()
    replay.unlink()
    assert lab.slugs(tuned["evaluate"], at_least="error") == set()


def test_a_rebuilt_log_order_is_replayed_afresh(tuned, lab):
    lab.audit(tuned["evaluate"])
    conn = sqlite3.connect(lab.root / ".lineage" / integrity.REPLAY_DB, isolation_level=None)
    conn.execute("UPDATE replay_state SET last_id = 'elsewhere'")  # as if the log were replaced
    conn.close()
    assert integrity.check_audit_tables(lab.repo.graph) == []


def test_no_verify_skips_the_table_check_but_not_the_schema_check(tuned, lab, capsys):
    _sql(lab, "DELETE FROM runs WHERE kind = 'tune'")
    r = _cli(lab, capsys, "audit", "--no-verify", "--rule", "tune-read-test", tuned["tuned_eval"])
    assert r.code == 0  # fooled, as documented: that is why checking is the default
    _sql(lab, "DROP VIEW evaluations")
    _sql(lab, "CREATE VIEW evaluations AS SELECT * FROM runs WHERE 0")
    r = _cli(lab, capsys, "audit", "--no-verify", tuned["tuned_eval"])
    assert r.code == 2 and "schema was altered" in r.stderr
