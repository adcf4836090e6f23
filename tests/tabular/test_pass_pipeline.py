"""The table pass runs in three stages at once (reading, hashing, writing): the derived bytes
are those of one batch after another, and a failure in any stage ends the pass cleanly."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lineage.errors import LimitExceeded, TabularReadError
from lineage.tabular import compute, kernel
from lineage.tabular.limits import Limits
from lineage.tabular.readers import BATCH_ROWS, BatchReader, detect

ROWS = BATCH_ROWS * 6 + 123  # several batches, the last one short


def _table(path: Path) -> None:
    rng = np.random.default_rng(7)
    ids = np.arange(ROWS)
    pq.write_table(pa.table({
        "x": rng.random(ROWS), "n": ids % 1000, "s": pa.array([f"v{i % 5003}" for i in ids]),
        "label": ids % 3,
    }), path, row_group_size=100_000)


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _sequential(path: Path, decl: dict[str, str], tmpdir: Path) -> compute.FileMetadata:
    """The pass one batch after another on this thread: what the stages must give."""
    sink = compute.FileSink(str(tmpdir), decl, "t.parquet")
    reader = BatchReader(str(path), detect(str(path)), "t.parquet")
    rows = 0
    for batch in reader:
        if sink.plan is None:
            sink.open(kernel.plan_for(batch.schema, decl))
        sink.add(kernel.batch_pass(batch, sink.plan, rows))
        rows += batch.num_rows
    return sink.close("parquet", reader.schema)


def _sink_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "lineage-fp-sink"]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    _table(path)
    return path


def test_stages_give_the_bytes_of_one_batch_after_another(table: Path, tmp_path: Path):
    decl = {"label": "label", "group": "n"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref = _sequential(table, decl, tmp_path / "a")
    progress: list[float] = []
    meta = compute.compute_file(str(table), detect(str(table)), decl, display="t.parquet",
                                tmpdir=str(tmp_path / "b"), on_progress=progress.append)
    assert meta.rows == ref.rows == ROWS
    assert _digest(meta.fingerprints_path) == _digest(ref.fingerprints_path)
    assert meta.profile == ref.profile and meta.rows_key == ref.rows_key
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert not _sink_threads()


def test_an_output_limit_crossed_while_writing_ends_the_pass(table: Path, tmp_path: Path):
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(LimitExceeded):
        compute.compute_file(str(table), detect(str(table)), {}, display="t.parquet", tmpdir=str(work),
                             limits=Limits(max_fingerprint_bytes=100_000))
    assert list(work.iterdir()) == []  # the partial fingerprint file is gone
    assert not _sink_threads()


def test_an_output_limit_not_crossed_does_not_end_the_pass(table: Path, tmp_path: Path):
    meta = compute.compute_file(str(table), detect(str(table)), {}, display="t.parquet", tmpdir=str(tmp_path),
                                limits=Limits(max_fingerprint_bytes=1 << 30))
    assert meta.rows == ROWS


def test_a_hashing_failure_part_way_is_a_read_error_and_leaves_nothing(table: Path, tmp_path: Path,
                                                                       monkeypatch):
    original = kernel.batch_pass

    def failing(batch, plan, start=0, **kw):
        if start >= 3 * BATCH_ROWS:
            raise ValueError("bad value")
        return original(batch, plan, start, **kw)

    monkeypatch.setattr(kernel, "batch_pass", failing)
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(TabularReadError, match="cannot be fingerprinted .*bad value"):
        compute.compute_file(str(table), detect(str(table)), {}, display="t.parquet", tmpdir=str(work))
    assert list(work.iterdir()) == []
    assert not _sink_threads()


def test_a_corrupt_row_group_part_way_is_a_read_error_and_leaves_nothing(table: Path, tmp_path: Path):
    data = bytearray(table.read_bytes())
    meta = pq.ParquetFile(table).metadata
    col = meta.row_group(3).column(0)  # the last row group's first column chunk
    start = col.data_page_offset
    data[start:start + 64] = b"\xff" * 64
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(TabularReadError):
        compute.compute_file(str(bad), detect(str(bad)), {}, display="bad.parquet", tmpdir=str(work))
    assert list(work.iterdir()) == []
    assert not _sink_threads()
