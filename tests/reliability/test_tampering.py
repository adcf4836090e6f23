"""Tampering with local data: every case is a finding of ``lineage verify`` (exit 1, named).

The state is realistic: a clean pipeline and a leaky one recorded through the Python
API (runs, tabular records, packed and loose objects), a waiver, a stat cache. Each
test damages one thing the way a hand edit, a bad disk or a hostile script would, and
checks that verify names it; derived-table edits are also undone by ``rebuild``.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
from pathlib import Path

import pytest

from conftest import CLI, validate
from reliability.conftest import lineage_proc
from audit.conftest import clean_pipeline, lab, leaky_pipeline  # noqa: F401  (lab is a fixture)


@pytest.fixture
def state(lab):
    """Runs (one leaky evaluation), tabular records, a waiver, a loose and packed objects."""
    from lineage import audit, snapshots

    ids = leaky_pipeline(lab)
    audit.waive(lab.repo, "dirty-code", ids["evaluate"], "notebook run, code committed later", force=True)
    revoked = audit.waive(lab.repo, "exact-overlap", ids["leaky_eval"], "five known copies", expires="30d")
    audit.revoke(lab.repo, revoked.event_id, reason="the copies must go")
    big = lab.root / "data" / "big" / "blob.bin"
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(1_500_000))  # over the pack limit: a loose object
    ids["big"] = snapshots.create(lab.repo, big.parent, name="big").id
    ids["big_digest"] = _digest_of(lab.root, "blob.bin")
    lab.repo.close()
    return ids


@pytest.fixture
def vcli(lab, capsys):
    return CLI(lab.root, capsys)


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".lineage" / "lineage.db", isolation_level=None)


def _digest_of(root: Path, name: str) -> str:
    with _db(root) as conn:
        return conn.execute("SELECT digest FROM files WHERE path = ?", (name,)).fetchone()[0]


def _verify(vcli) -> tuple[int, dict, str]:
    r = vcli("verify", "--json")
    validate(r.json, "verify.schema.json")
    return r.code, r.json, vcli("verify").stdout


def _writable(path: Path) -> Path:
    os.chmod(path, 0o644)
    return path


def _raw_edit(root: Path, sql: str, *args) -> None:
    """An edit the append-only triggers refuse, made as a raw file edit would: trigger
    dropped, row changed, trigger put back exactly as it was."""
    conn = _db(root)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "AND tbl_name = 'events'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute(sql, args)
    for _, ddl in triggers:
        conn.execute(ddl)
    conn.close()


# -- the negative case --------------------------------------------------------------

def test_an_untouched_repository_verifies_clean(state, vcli):
    code, report, text = _verify(vcli)
    assert code == 0, text
    assert report["ok"] is True and report["tables"] == [] and report["packs"] == []
    assert report["objects"] == [] and report["log"] == [] and report["stat_cache"] == []
    assert report["objects_checked"] > 10 and "OK" in text
    # a second run is as clean (verify itself changes nothing that matters)
    assert vcli("verify").code == 0


# -- derived tables -----------------------------------------------------------------

def test_a_role_changed_in_run_input_records_is_named_and_rebuild_restores_the_finding(state, vcli, lab):
    from lineage import audit

    def overlap_found() -> bool:
        from lineage.repo import Repo

        with Repo.find(lab.root) as repo:
            report = audit.run(repo, [state["leaky_eval"]])
        return any(f.rule == "exact-overlap" for f in report.findings)

    assert overlap_found()
    with _db(lab.root) as conn:
        conn.execute("UPDATE run_input_records SET role = 'other' WHERE run_id = ? AND role = 'test'",
                      (state["leaky_eval"],))
    from lineage.errors import IntegrityError

    with pytest.raises(IntegrityError, match="table run_input_records differs from the event log"):
        overlap_found()  # the audit is not fooled: it refuses
    assert vcli("audit", state["leaky_eval"]).code == 2
    code, report, text = _verify(vcli)
    assert code == 1
    [problem] = report["tables"]
    assert problem["table"] == "run_input_records" and problem["problem"] == "differs"
    assert problem["rows"] == problem["expected_rows"] and problem["first_difference"]["event_id"]
    assert "table run_input_records" in text and "lineage rebuild" in text
    assert vcli("rebuild").code == 0
    assert overlap_found()
    assert vcli("verify").code == 0


def test_deleted_runs_are_named(state, vcli, lab):
    with _db(lab.root) as conn:
        n = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        conn.execute("DELETE FROM runs")
    code, report, text = _verify(vcli)
    assert code == 1
    [problem] = [t for t in report["tables"] if t["table"] == "runs"]
    assert problem["rows"] == 0 and problem["expected_rows"] == n and "row(s) missing" in problem["detail"]
    assert "table runs" in text
    audited = vcli("audit", "--all")  # nothing to audit would be a PASS: refused instead
    assert audited.code == 2 and "table runs differs from the event log" in audited.stderr
    vcli("rebuild")
    assert vcli("verify").code == 0
    assert vcli("audit", "--all").code in (0, 1)


def test_deleted_tune_runs_make_verify_name_runs_and_audit_refuse(lab, vcli):
    ids = clean_pipeline(lab)
    lab.write("models/best.json", '{"C": 1}')
    tune = lab.run("tune", [("train", "data/train_s.csv"), ("validation", "data/test_s.csv")],
                   ["models/best.json"])
    assert vcli("audit", tune).code == 1  # a critical tune-read-test
    with _db(lab.root) as conn:
        conn.execute("DELETE FROM runs WHERE kind = 'tune'")
    code, report, _ = _verify(vcli)
    assert code == 1 and "runs" in {t["table"] for t in report["tables"]}
    audited = vcli("audit", ids["evaluate"])
    assert audited.code == 2 and "table runs differs from the event log" in audited.stderr


@pytest.mark.parametrize("table, sql", [
    ("waivers", "DELETE FROM waivers"),
    ("waiver_revocations", "DELETE FROM waiver_revocations"),
    ("metrics", "UPDATE metrics SET value = 0.5 WHERE split = 'test'"),
    ("files", "UPDATE files SET digest = '" + "0" * 64 + "' WHERE path = 'blob.bin'"),
    ("tabular_files", "UPDATE tabular_files SET rows = rows + 1"),
    ("edges_up", "DELETE FROM edges_up WHERE kind = 'input'"),
    ("event_heads", "INSERT INTO event_heads VALUES ('" + "f" * 64 + "')"),
    ("event_parents", "DELETE FROM event_parents WHERE child = (SELECT max(child) FROM event_parents)"),
    ("datasets", "UPDATE datasets SET path = '../elsewhere' WHERE name = 'big'"),
])
def test_every_derived_table_is_compared(state, vcli, lab, table, sql):
    with _db(lab.root) as conn:
        conn.execute(sql)
    code, report, _ = _verify(vcli)
    assert code == 1 and table in {t["table"] for t in report["tables"]}
    audited = vcli("audit", "--all")
    if table in ("event_heads", "event_parents"):  # the log's own index: no rule reads it
        assert audited.code in (0, 1), audited.stderr
    else:
        assert audited.code == 2 and f"table {table} differs from the event log" in audited.stderr
        assert "lineage rebuild" in audited.stderr and len(audited.stderr.strip().splitlines()) == 1
    assert vcli("rebuild").code == 0 and vcli("verify").code == 0


def test_a_rewritten_auditor_view_and_a_planted_trigger_are_named(state, vcli, lab):
    with _db(lab.root) as conn:
        conn.execute("DROP VIEW evaluations")
        conn.execute("CREATE VIEW evaluations AS SELECT * FROM runs WHERE 0")
        conn.execute("CREATE TRIGGER hide AFTER INSERT ON run_input_records "
                     "BEGIN UPDATE run_input_records SET role = 'other' WHERE event_id = new.event_id; END")
    code, report, text = _verify(vcli)
    assert code == 1
    details = {t["table"]: t["detail"] for t in report["tables"] if t["problem"] == "schema"}
    assert "differs from its migration" in details["evaluations"]
    assert "not part of the schema" in details["hide"]
    assert "schema was altered" in text
    audited = vcli("audit", "--all")
    assert audited.code == 2 and "schema was altered (evaluations, hide)" in audited.stderr


def test_the_cheap_schema_check_sees_a_rewritten_view(state, lab):
    from lineage.log import integrity
    from lineage.repo import Repo

    with Repo.find(lab.root) as repo:
        assert integrity.check_schema(repo.graph) == []
    with _db(lab.root) as conn:
        conn.execute("DROP VIEW run_inputs")
    with Repo.find(lab.root) as repo:
        assert [p.table for p in integrity.check_schema(repo.graph)] == ["run_inputs"]


# -- the event log ------------------------------------------------------------------

def test_an_edited_event_body_is_named(state, vcli, lab):
    _raw_edit(lab.root, "UPDATE events SET body = replace(body, '\"test\"', '\"other\"') "
                        "WHERE type = 'run.input' AND body LIKE ?", f"%{state['leaky_eval']}%")
    code, report, text = _verify(vcli)
    assert code == 1
    assert any("was altered" in line for line in report["log"])
    assert "event log itself was altered" in text  # rebuild is not offered as the fix


def test_a_deleted_event_is_named(state, vcli, lab):
    # the newest event removed by a raw edit: its projection and its head entry remain
    _raw_edit(lab.root, "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    code, report, text = _verify(vcli)
    assert code == 1
    assert {"event_heads"} <= {t["table"] for t in report["tables"]}


def test_a_deleted_middle_event_breaks_the_links(state, vcli, lab):
    _raw_edit(lab.root, "DELETE FROM events WHERE seq = 3")
    code, report, _ = _verify(vcli)
    assert code == 1 and any("missing" in line for line in report["log"])


# -- objects and packs --------------------------------------------------------------

def _loose(root: Path, digest: str) -> Path:
    return root / ".lineage" / "objects" / digest[:2] / digest[2:]


def _packs(root: Path) -> list[Path]:
    return sorted((root / ".lineage" / "packs").glob("*.idx"))


def test_flipped_bytes_of_a_loose_object_are_named(state, vcli, lab):
    obj = _writable(_loose(lab.root, state["big_digest"]))
    raw = bytearray(obj.read_bytes())
    raw[1000] ^= 0x01
    obj.write_bytes(bytes(raw))
    code, report, text = _verify(vcli)
    assert code == 1
    [p] = report["objects"]
    assert p["digest"] == state["big_digest"] and p["problem"] == "corrupt" and p["files"] == ["blob.bin"]
    assert "corrupt" in text and "blob.bin" in text


def test_a_removed_loose_object_is_named(state, vcli, lab):
    _loose(lab.root, state["big_digest"]).unlink()
    code, report, _ = _verify(vcli)
    assert code == 1
    [p] = report["objects"]
    assert p["problem"] == "missing" and p["snapshots"] == [state["big"]]


def test_a_truncated_pack_is_named(state, vcli, lab):
    idx = _packs(lab.root)[0]
    pack = _writable(idx.with_suffix(".pack"))
    size = pack.stat().st_size
    os.truncate(pack, size // 2)
    code, report, text = _verify(vcli)
    assert code == 1
    assert any(idx.stem[:12] in line and "truncated" in line for line in report["packs"])
    assert report["objects"] and all(p["problem"] == "corrupt" for p in report["objects"])
    assert f"pack {idx.stem[:12]}" in text


def test_a_flipped_magic_byte_in_a_pack_index_exits_1_naming_the_pack(state, lab):
    idx = _writable(_packs(lab.root)[0])
    raw = bytearray(idx.read_bytes())
    raw[0] ^= 0xFF
    idx.write_bytes(bytes(raw))
    p = lineage_proc(["verify"], lab.root)
    assert p.returncode == 1, p.stderr
    assert f"pack {idx.stem[:12]}" in p.stdout and "index is corrupt" in p.stdout
    assert "missing" in p.stdout  # its objects can no longer be found
    assert "Traceback" not in p.stderr


def test_an_altered_pack_index_entry_is_named(state, vcli, lab):
    idx = _writable(_packs(lab.root)[0])
    raw = bytearray(idx.read_bytes())
    # the first entry's offset (after magic, count and the 32-byte digest): point it one byte on
    at = 8 + 8 + 32 + 7
    raw[at] += 1
    idx.write_bytes(bytes(raw))
    code, report, _ = _verify(vcli)
    assert code == 1
    assert any(idx.stem[:12] in line and "do not match its name" in line for line in report["packs"])
    assert any(p["problem"] == "corrupt" for p in report["objects"])


def test_a_pack_whose_pack_file_is_gone_is_named(state, vcli, lab):
    idx = _packs(lab.root)[0]
    idx.with_suffix(".pack").unlink()
    code, report, _ = _verify(vcli)
    assert code == 1 and any("the .pack file is missing" in line for line in report["packs"])


def test_a_replaced_manifest_object_is_named(state, vcli, lab):
    from lineage.repo import Repo

    with Repo.find(lab.root) as repo:
        other = repo.store.read_bytes(_manifest_other(repo, state["big"]))
    target = _loose(lab.root, state["big"])
    if target.exists():
        _writable(target).write_bytes(other)
    else:  # packed manifest: plant a loose copy with other bytes (loose objects are read first)
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(other)
    code, report, text = _verify(vcli)
    assert code == 1
    [p] = [p for p in report["objects"] if p["digest"] == state["big"]]
    assert p["problem"] == "corrupt" and p["snapshots"] == [state["big"]]
    assert f"corrupt object {state['big'][:12]}" in text.replace("\n", " ") or state["big"][:8] in text


def _manifest_other(repo, not_this: str) -> str:
    from lineage.snapshots import queries

    return next(s for s in queries.snapshot_ids(repo.graph) if s != not_this)


# -- the stat cache -----------------------------------------------------------------

def test_a_poisoned_stat_cache_entry_is_named_removed_and_no_longer_trusted(state, vcli, lab):
    target = lab.root / "data" / "big" / "blob.bin"
    # status trusts the cache: an entry claiming another digest makes a clean file look modified
    assert _status(vcli, "big")["state"] == "clean"
    wrong = "ab" * 32
    cache = sqlite3.connect(lab.root / ".lineage" / "state.db", isolation_level=None)
    folder = str(target.parent)
    entries = marshal.loads(cache.execute("SELECT entries FROM stat_dirs WHERE dir = ?", (folder,)).fetchone()[0])
    entries["blob.bin"] = (*entries["blob.bin"][:4], wrong)
    cache.execute("UPDATE stat_dirs SET entries = ? WHERE dir = ?", (marshal.dumps(entries), folder))
    cache.execute("DELETE FROM trees")  # so the per-file entry is what status reads
    cache.execute("DELETE FROM folder_keys")
    cache.close()
    big = _status(vcli, "big")
    assert big["state"] == "changed" and big["modified"] == ["blob.bin"]  # fooled
    code, report, text = _verify(vcli)
    assert code == 1
    [p] = report["stat_cache"]
    assert p["path"] == str(target) and wrong[:12] in p["detail"] and "removed" in p["detail"]
    assert text.startswith("OK")  # the --json run removed the entry: the cache is disposable
    # the entry is gone: status rehashes and sees the truth, verify is clean again
    assert _status(vcli, "big")["state"] == "clean"
    assert vcli("verify").code == 0


def test_a_file_edited_under_an_unchanged_stat_is_caught(state, vcli, lab):
    target = lab.root / "data" / "big" / "blob.bin"
    assert _status(vcli, "big")["state"] == "clean"
    st = target.stat()
    with open(target, "r+b") as fh:  # same inode, same size
        fh.seek(10)
        fh.write(b"\x00" * 8 if fh.read(8) != b"\x00" * 8 else b"\x01" * 8)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _status(vcli, "big")["state"] == "clean"  # the stat cache vouches for it
    r = vcli("verify")
    assert r.code == 1 and f"stat cache: {target}" in r.stdout and "entry removed" in r.stdout
    assert _status(vcli, "big")["state"] == "changed"


def _status(vcli, name: str) -> dict:
    r = vcli("status", "--json")
    assert r.code == 0, r.stderr
    return next(d for d in r.json["datasets"] if d["dataset"] == name)


def test_a_stat_cache_that_is_not_a_database_is_named(state, vcli, lab):
    db = lab.root / ".lineage" / "state.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"not a database at all, just bytes" * 100)
    r = vcli("verify")
    assert r.code == 1 and "stat cache" in r.stdout and "not a readable database" in r.stdout
    assert "Traceback" not in r.stderr
    assert vcli("verify").code == 0  # started afresh, and rebuilt by hashing


def test_status_starts_a_damaged_stat_cache_afresh(state, vcli, lab):
    db = lab.root / ".lineage" / "state.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"\x00garbage" * 500)
    r = vcli("status")
    assert r.code == 0, r.stderr
    assert "unexpected" not in r.stderr
