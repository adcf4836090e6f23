"""The order-free rows key of tabular files, and the SQL recipe that finds re-exports."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import lineage
from lineage.tabular.rowskey import combine_rows_keys, rows_key


def _table(n: int, seed: int) -> pa.Table:
    rng = random.Random(seed)
    return pa.table({"id": list(range(n)), "x": [rng.random() for _ in range(n)],
                     "label": [rng.choice(["a", "b"]) for _ in range(n)]})


def _keys(repo, sid: str) -> set[str]:
    return {r[0] for r in lineage.query("SELECT rows_key FROM file_rows WHERE snapshot_id = ?", (sid,),
                                        repo=repo).rows}


def test_the_same_rows_in_any_order_format_or_column_order_share_a_key(repo):
    t = _table(200, seed=1)
    pacsv.write_csv(t, repo.root / "test.csv")
    shuffled = t.take(list(reversed(range(200)))).select(["label", "x", "id"])
    pq.write_table(shuffled, repo.root / "holdout.parquet")
    pacsv.write_csv(t.slice(0, 199), repo.root / "fewer.csv")
    a = lineage.snapshot(repo.root / "test.csv", repo=repo).id
    b = lineage.snapshot(repo.root / "holdout.parquet", repo=repo).id
    c = lineage.snapshot(repo.root / "fewer.csv", repo=repo).id
    assert _keys(repo, a) == _keys(repo, b) and len(_keys(repo, a)) == 1
    assert _keys(repo, c) != _keys(repo, a)
    assert next(iter(_keys(repo, a))).startswith("200:")


def test_keys_combine_as_multisets():
    import numpy as np

    keys = np.frombuffer(bytes(random.Random(3).getrandbits(8) for _ in range(16 * 50)), dtype="V16")
    whole = rows_key(keys)
    assert combine_rows_keys([rows_key(keys[:20]), rows_key(keys[20:])]) == whole
    assert rows_key(keys[::-1]) == whole
    assert rows_key(keys[:-1]) != whole


def test_the_sql_recipe_finds_a_run_that_read_a_shuffled_re_export_of_the_test_set(repo):
    t = _table(120, seed=2)
    pacsv.write_csv(t.slice(0, 100), repo.root / "train.csv")
    pacsv.write_csv(t.slice(100, 20), repo.root / "test.csv")
    with lineage.run(kind="evaluate", repo=repo) as r:
        r.input(repo.root / "test.csv", role="test")
    test_sid = lineage.snapshot(repo.root / "test.csv", repo=repo).id
    pq.write_table(t.slice(100, 20).take(list(range(19, -1, -1))), repo.root / "copy.parquet")
    with lineage.run(kind="train", repo=repo) as sneaky:
        sneaky.input(repo.root / "copy.parquet", role="train")
    with lineage.run(kind="train", repo=repo) as honest:
        honest.input(repo.root / "train.csv", role="train")
    sql = ("SELECT DISTINCT i.run_id FROM run_inputs i JOIN file_rows r ON r.snapshot_id = i.snapshot_id "
           "WHERE r.rows_key IN (SELECT rows_key FROM file_rows WHERE snapshot_id = ?) AND i.role = 'train'")
    found = {row[0] for row in lineage.query(sql, (test_sid,), repo=repo).rows}
    assert found == {sneaky.id}
