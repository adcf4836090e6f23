"""Bounded resources: compression bombs, huge row counts and fingerprint output, one-line
CSV files, and runaway queries (issue 10, findings 7 and 10).

A file over a ``[tabular]`` limit is still versioned byte for byte; only its rows are
not fingerprinted, with a one-line warning naming the file, the limit and its setting.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lineage
from lineage.errors import ConfigError
from lineage.tabular import load_fingerprints, not_fingerprinted
from lineage.tabular.compute import compute_file
from lineage.tabular.limits import LimitExceeded, Limits
from lineage.tabular.readers import TabularReadError, detect

from .conftest import lineage_proc

LINE = b"0," + b"x" * 1000 + b"\n"


def gzip_bomb(path: Path, expands_to: int, line: bytes = LINE) -> Path:
    """A small .csv.gz that expands to ``expands_to`` bytes (written without ever holding them)."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = line * ((1 << 20) // len(line))
    with open(path, "wb") as fh:
        fh.write(co.compress(b"n,text\n"))
        written = 0
        while written < expands_to:
            fh.write(co.compress(chunk))
            written += len(chunk)
        fh.write(co.flush())
    return path


def set_tabular(workdir: Path, **limits: int) -> None:
    cfg = workdir / ".lineage" / "config.toml"
    body = "".join(f"{k} = {v}\n" for k, v in limits.items())
    cfg.write_text(cfg.read_text() + "\n[tabular]\n" + body)


def store_objects(workdir: Path) -> list[Path]:
    return [p for p in (workdir / ".lineage").rglob("*") if p.is_file() and "objects" in p.parts]


def tabular_rows(workdir: Path) -> int:
    with sqlite3.connect(workdir / ".lineage" / "lineage.db") as db:
        return db.execute("SELECT count(*) FROM tabular_files").fetchone()[0]


# -- compression bombs ---------------------------------------------------------------

def test_gzip_bomb_is_stopped_while_reading(workdir: Path):
    """300 MB from a 0.7 MB .csv.gz, with a 16 MiB limit: one warning, the bytes versioned,
    no derived object, nothing recorded; store and graph verify."""
    bomb = gzip_bomb(workdir / "bomb.csv.gz", 300 << 20)
    set_tabular(workdir, max_decompressed_bytes=16 << 20)
    started = time.monotonic()
    r = lineage_proc(["snapshot", "bomb.csv.gz", "--name", "bomb", "--json"], workdir)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 60
    warnings = [line for line in r.stderr.splitlines() if "bomb.csv.gz" in line]
    assert len(warnings) == 1
    assert "bomb.csv.gz: rows not fingerprinted: decompresses to more than 16 MiB" in warnings[0]
    assert "tabular.max_decompressed_bytes = 16777216" in warnings[0] and "config.toml" in warnings[0]
    assert json.loads(r.stdout)["warnings"] == [w.removeprefix("warning: ") for w in warnings]
    # the bytes are stored as usual (content addressing unaffected) ...
    show = lineage_proc(["show", "bomb", "--json"], workdir)
    digest = json.loads(show.stdout)["files"][0]["digest"]
    import blake3

    assert digest == blake3.blake3(bomb.read_bytes()).hexdigest()
    # ... but no fingerprint object and no tabular record: a raised limit reads it later
    assert tabular_rows(workdir) == 0
    assert sum(p.stat().st_size for p in store_objects(workdir)) < 2 * bomb.stat().st_size
    assert lineage_proc(["verify"], workdir).returncode == 0
    schema = json.loads(lineage_proc(["show", "bomb", "--schema", "--json"], workdir).stdout)
    assert schema["files"][0]["status"] == "error"
    assert "max_decompressed_bytes" in schema["files"][0]["error"]


def test_detection_happens_while_streaming(tmp_path: Path):
    """The reader gives up after about the limit's worth of input, not after the whole file."""
    bomb = gzip_bomb(tmp_path / "b.csv.gz", 200 << 20)
    seen: list[float] = []
    with pytest.raises(LimitExceeded) as info:
        compute_file(str(bomb), detect(bomb.name), {}, display="b.csv.gz", tmpdir=str(tmp_path),
                     limits=Limits(max_decompressed_bytes=8 << 20), on_progress=seen.append)
    assert info.value.key == "max_decompressed_bytes"
    assert max(seen, default=0) < 0.25  # of the compressed bytes read when it stopped
    assert not list(tmp_path.glob("*.parquet"))  # no half-written fingerprint file left


def test_default_limits_stop_a_bomb(workdir: Path, repo):
    """With no [tabular] settings, the 100:1 ratio guard stops an 80 MB bomb of 0.2 MB
    at 64 MiB (the floor below which small repetitive files are always read)."""
    assert Limits.from_repo(repo) == Limits.defaults() == Limits(
        max_decompressed_bytes=4 << 30, max_compression_ratio=100, max_rows=50_000_000,
        max_fingerprint_bytes=2 << 30)
    gzip_bomb(workdir / "bomb.csv.gz", 80 << 20)
    snap = lineage.snapshot(workdir / "bomb.csv.gz", repo=repo, name="bomb")
    assert len(snap.warnings) == 1
    assert "decompresses to more than 100 times its size" in snap.warnings[0]
    assert "tabular.max_compression_ratio = 100" in snap.warnings[0]


def test_a_small_repetitive_file_is_read_whatever_its_ratio(workdir: Path, repo):
    gzip_bomb(workdir / "zeros.csv.gz", 2 << 20, line=b"0,0\n")  # ratio far above 100
    snap = lineage.snapshot(workdir / "zeros.csv.gz", repo=repo, name="zeros")
    assert snap.warnings == []
    assert load_fingerprints(repo, snap.id).num_rows == (2 << 20) // 4


def test_raising_the_limit_reads_the_file_next_time(workdir: Path, repo):
    import gzip

    rows = gzip.decompress(gzip_bomb(workdir / "big.csv.gz", 4 << 20).read_bytes()).count(b"\n") - 1
    set_tabular(workdir, max_decompressed_bytes=1 << 20)
    first = lineage.snapshot(workdir / "big.csv.gz", repo=repo, name="big")
    assert "max_decompressed_bytes" in first.warnings[0]
    assert load_fingerprints(repo, first.id).num_rows == 1  # the file's digest, one row
    cfg = workdir / ".lineage" / "config.toml"
    cfg.write_text(cfg.read_text().replace(f"max_decompressed_bytes = {1 << 20}", "max_decompressed_bytes = 0"))
    from lineage.repo import Repo

    fresh = Repo.find(workdir)
    try:
        fps = load_fingerprints(fresh, first.id)
        assert fps.num_rows == rows and not_fingerprinted(fps) == []
    finally:
        fresh.close()


def test_a_bad_limit_setting_is_a_config_error(workdir: Path, repo):
    set_tabular(workdir, max_rows='"lots"')
    (workdir / "t.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match=r"tabular.max_rows .* must be a whole number"):
        lineage.snapshot(workdir / "t.csv", repo=repo)
    r = lineage_proc(["snapshot", "t.csv"], workdir)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: tabular.max_rows")


# -- rows and fingerprint output ---------------------------------------------------------

def test_row_limit(workdir: Path, repo):
    set_tabular(workdir, max_rows=100)
    (workdir / "d").mkdir()
    (workdir / "d" / "many.csv").write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(1000)))
    pq.write_table(pa.table({"a": list(range(1000))}), workdir / "d" / "many.parquet")
    (workdir / "d" / "few.csv").write_text("a,b\n1,2\n")
    snap = lineage.snapshot(workdir / "d", repo=repo, name="d")
    assert sorted(snap.warnings) == [
        f"d/{name}: rows not fingerprinted: has more than 100 rows (limit tabular.max_rows = 100 in "
        ".lineage/config.toml; raise it, or 0 for no limit, to read this file)"
        for name in ("many.csv", "many.parquet")]
    fps = load_fingerprints(repo, snap.id)
    assert sorted(f["file"] for f in not_fingerprinted(fps)) == ["many.csv", "many.parquet"]  # in the snapshot
    assert fps.num_rows == 3  # one per skipped file, one for few.csv's row


def test_parquet_row_limit_is_checked_from_the_footer(tmp_path: Path):
    """A Parquet file declares its row count: a billion-row file is refused before any
    batch is decoded (no progress reported)."""
    pq.write_table(pa.table({"a": pa.array([0] * 200_000, pa.int8())}), tmp_path / "p.parquet")
    seen: list[float] = []
    with pytest.raises(LimitExceeded, match="more than 10 rows"):
        compute_file(str(tmp_path / "p.parquet"), detect("p.parquet"), {}, display="p.parquet",
                     tmpdir=str(tmp_path), limits=Limits(max_rows=10), on_progress=seen.append)
    assert seen == []


def test_fingerprint_output_limit(workdir: Path, repo):
    set_tabular(workdir, max_fingerprint_bytes=20_000)
    (workdir / "t.csv").write_text("a\n" + "".join(f"{i}\n" for i in range(200_000)))
    snap = lineage.snapshot(workdir / "t.csv", repo=repo, name="t")
    assert len(snap.warnings) == 1
    assert "its fingerprints would take more than 19.5 KiB" in snap.warnings[0]
    assert "tabular.max_fingerprint_bytes = 20000" in snap.warnings[0]
    assert tabular_rows(workdir) == 0
    assert not list((repo.store.tmp).glob("*.parquet"))


def test_audit_says_the_rows_were_not_fingerprinted(workdir: Path):
    gzip_bomb(workdir / "bomb.csv.gz", 8 << 20)
    set_tabular(workdir, max_decompressed_bytes=1 << 20)
    (workdir / "test.csv").write_text("n,text\n1,a\n")
    assert lineage_proc(["snapshot", "bomb.csv.gz", "--name", "train"], workdir).returncode == 0
    assert lineage_proc(["snapshot", "test.csv", "--name", "test"], workdir).returncode == 0
    r = lineage_proc(["run", "-k", "evaluate", "-i", "train=train", "-i", "test=test", "--", "true"], workdir)
    assert r.returncode == 0, r.stderr
    r = lineage_proc(["audit", "--all", "--json"], workdir)
    assert r.returncode in (0, 1) and "unexpected" not in r.stderr, r.stderr
    found = [f for f in json.loads(r.stdout)["findings"] if f["rule"] == "unfingerprinted-input"]
    assert len(found) == 1 and found[0]["severity"] == "warning"
    assert "the rows of bomb.csv.gz were not fingerprinted (decompresses to more than 1 MiB" in found[0]["message"]
    assert found[0]["evidence"]["files"][0]["file"] == "bomb.csv.gz"
    assert lineage_proc(["verify"], workdir).returncode == 0


def test_audit_rule_stays_quiet_on_readable_inputs(workdir: Path):
    (workdir / "train.csv").write_text("n,text\n1,a\n2,b\n")
    (workdir / "test.csv").write_text("n,text\n3,c\n")
    r = lineage_proc(["run", "-k", "train", "-i", "train=train.csv", "-i", "validation=test.csv", "--", "true"],
                     workdir)
    assert r.returncode == 0, r.stderr
    r = lineage_proc(["audit", "--all", "--json", "--rule", "unfingerprinted-input"], workdir)
    assert r.returncode == 0 and json.loads(r.stdout)["findings"] == []


# -- a kill while the derived objects are written -------------------------------------

@pytest.mark.parametrize("point", ["tabular.derived", "tabular.stored"])
def test_killed_while_deriving_then_rerun(workdir: Path, point: str):
    (workdir / "t.csv").write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(5000)))
    r = lineage_proc(["snapshot", "t.csv", "--name", "t"], workdir, fault=point)
    assert r.returncode == -9
    r = lineage_proc(["snapshot", "t.csv", "--name", "t"], workdir)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert tabular_rows(workdir) == 1
    assert lineage_proc(["verify"], workdir).returncode == 0
    schema = json.loads(lineage_proc(["show", "t", "--schema", "--json"], workdir).stdout)
    assert schema["files"][0]["status"] == "ok" and schema["files"][0]["rows"] == 5000


# -- one-line CSV files ---------------------------------------------------------------

def test_a_one_line_csv_larger_than_the_block_is_not_called_empty(workdir: Path, repo):
    """Reported: a 440 MB one-line CSV was "the file is empty". pyarrow calls a first block
    without a line end "Empty CSV file or block"; the reader now retries with 64 MiB blocks
    and otherwise says what is wrong."""
    with open(workdir / "one.csv", "wb") as fh:
        for _ in range(70):
            fh.write(b"y" * (1 << 20))
    snap = lineage.snapshot(workdir / "one.csv", repo=repo, name="one")
    assert snap.warnings == ["one.csv: could not be fingerprinted: a single CSV line is longer than the "
                             "reader's block size of 64 MiB; its rows are not fingerprinted"]


def test_a_line_longer_than_the_first_block_is_read(tmp_path: Path):
    path = tmp_path / "mid.csv"
    path.write_bytes(b"a,b\n1," + b"y" * (10 << 20) + b"\n2,z\n")  # one 10 MB cell, 8 MB blocks
    meta = compute_file(str(path), detect(path.name), {}, display="mid.csv", tmpdir=str(tmp_path))
    assert meta.rows == 2


@pytest.mark.parametrize("name, content, message", [
    ("hdr.csv", b"c" * 5000 + b"\n1\n", "a single CSV line is longer than the reader's block size of 4 KiB"),
    ("row.csv", b"a\n" + b"1\n" * 10 + b"9" * 50_000 + b"\n", "a single CSV line is longer"),
    ("rec.jsonl", b'{"a": 1}\n{"a": "' + b"x" * 50_000 + b'"}\n', "a single JSON Lines record is longer"),
    ("gz.csv.gz", zlib.compress(b"z" * 50_000, wbits=31), "a single CSV line is longer"),
    ("empty.csv.gz", zlib.compress(b"", wbits=31), "the file is empty"),
])
def test_long_line_messages(tmp_path: Path, monkeypatch, name, content, message):
    from lineage.tabular import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(readers, "MAX_BLOCK_BYTES", 4096)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TabularReadError) as info:
        compute_file(str(tmp_path / name), detect(name), {}, display=name, tmpdir=str(tmp_path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_header_only_csv_has_columns_and_no_rows(tmp_path: Path):
    (tmp_path / "h.csv").write_text("a,b\n")
    meta = compute_file(str(tmp_path / "h.csv"), detect("h.csv"), {}, display="h.csv", tmpdir=str(tmp_path))
    assert meta.rows == 0 and [c["name"] for c in meta.columns] == ["a", "b"]


# -- lineage query: row and time limits ----------------------------------------------------

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"


def test_query_default_row_limit_stops_an_endless_cte(workdir: Path):
    started = time.monotonic()
    r = lineage_proc(["query", ENDLESS, "--json"], workdir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["row_count"] == 10_000 and out["truncated"] is True
    assert out["rows"][-1] == {"x": 10_000}
    assert "output cut at 10000 rows (--limit; 0 for no limit)" in r.stderr
    assert time.monotonic() - started < 30


def test_query_limit_fetches_only_what_it_needs(workdir: Path):
    r = lineage_proc(["query", ENDLESS, "--limit", "3", "--timeout", "5", "--json"], workdir)
    assert r.returncode == 0 and [row["x"] for row in json.loads(r.stdout)["rows"]] == [1, 2, 3]
    r = lineage_proc(["query", "SELECT 1 AS one", "--limit", "3", "--json"], workdir)
    assert json.loads(r.stdout)["truncated"] is False and r.stderr == ""


@pytest.mark.parametrize("args", [["--limit", "0"], []])
def test_query_time_limit(workdir: Path, args: list[str]):
    """No row limit (or an ORDER BY that needs every row first): the progress handler stops
    it at --timeout with one line and exit code 2."""
    sql = ENDLESS if args else ENDLESS + " ORDER BY x DESC"
    started = time.monotonic()
    r = lineage_proc(["query", sql, "--timeout", "1", *args], workdir, timeout=60)
    elapsed = time.monotonic() - started
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "error: query stopped after 1 s (the time limit; raise it with --timeout, 0 for none)"
    assert elapsed < 15


def test_query_bad_limits_are_usage_errors(workdir: Path):
    for args, text in ((["--limit", "-1"], "--limit must be zero or more"),
                       (["--timeout", "-1"], "--timeout must be zero or more seconds")):
        r = lineage_proc(["query", "SELECT 1", *args], workdir)
        assert r.returncode == 2 and text in r.stderr


def test_query_library_timeout(repo):
    from lineage.log import readonly

    with pytest.raises(readonly.QueryTimeoutError):
        readonly.query(repo.db_path, ENDLESS, timeout=0.3)
    assert readonly.query(repo.db_path, ENDLESS, limit=2, timeout=0).rows == ((1,), (2,))
