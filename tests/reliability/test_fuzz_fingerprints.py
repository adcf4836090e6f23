"""Fingerprinting odd column types, fed by hypothesis: a stable fingerprint or a clear
LineageError, never a crash.

``tests/tabular/test_rowhash.py`` checks the encoding itself (golden values, the written
spec, ints/floats/text/booleans against a per-value reference). This file covers the
types around it: nulls everywhere, NaN and -0.0, huge ints, decimals, dates, time stamps
in time zones, times of day, nested lists/structs/maps, dictionary encoding, large and
view strings, binary, empty and zero-column tables; and the same table read back from
Parquet, Arrow IPC and CSV by the snapshot's own reader.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import tempfile

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage.errors import LineageError
from lineage.tabular.compute import compute_file
from lineage.tabular.readers import detect
from lineage.tabular.rowhash import fingerprint_table

UTC = dt.timezone.utc
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "+05:45"]

FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, math.nan]))
INSTANTS = st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1),
                        timezones=st.just(UTC))


def _decimals(precision: int, scale: int):
    limit = 10 ** (precision - scale) - 1
    return st.decimals(min_value=-limit, max_value=limit, places=scale, allow_nan=False, allow_infinity=False)


# (Arrow type, values) pairs; each column type survives a Parquet round trip unless noted
SCALARS = [
    (pa.null(), st.none()),
    (pa.bool_(), st.booleans()),
    (pa.int8(), st.integers(-128, 127)),
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (pa.uint64(), st.integers(0, 2**64 - 1)),
    (pa.float32(), st.floats(width=32, allow_nan=True)),
    (pa.float64(), FLOATS),
    (pa.decimal128(12, 3), _decimals(12, 3)),
    (pa.decimal256(60, 0), _decimals(60, 0)),
    (pa.date32(), st.dates()),
    (pa.date64(), st.dates(min_value=dt.date(1700, 1, 1))),
    (pa.time32("ms"), st.times()),
    (pa.time64("ns"), st.times()),
    (pa.duration("us"), st.timedeltas(min_value=dt.timedelta(days=-10**5), max_value=dt.timedelta(days=10**5))),
    (pa.string(), st.text(max_size=30)),
    (pa.large_string(), st.text(max_size=30)),
    (pa.binary(), st.binary(max_size=30)),
    (pa.large_binary(), st.binary(max_size=30)),
    (pa.binary(4), st.binary(min_size=4, max_size=4)),
] + [(pa.timestamp(unit, tz), INSTANTS) for unit in ("s", "ms", "us", "ns") for tz in (None, *ZONES[:3])]

NESTED = [
    (pa.list_(pa.int64()), st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=4)),
    (pa.large_list(pa.float64()), st.lists(st.one_of(st.none(), FLOATS), max_size=4)),
    (pa.struct([("a", pa.int32()), ("b", pa.string())]),
     st.fixed_dictionaries({"a": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
                            "b": st.one_of(st.none(), st.text(max_size=8))})),
    (pa.map_(pa.string(), pa.float64()), st.lists(st.tuples(st.text(max_size=5), FLOATS), max_size=3)),
    (pa.list_(pa.struct([("t", pa.timestamp("us", "UTC"))])),
     st.lists(st.fixed_dictionaries({"t": st.one_of(st.none(), INSTANTS)}), max_size=3)),
]


@st.composite
def columns(draw, n: int):
    typ, values = draw(st.sampled_from(SCALARS + NESTED))
    null_share = draw(st.sampled_from([0.0, 0.3, 1.0]))  # 1.0: nulls everywhere
    vals = [None if draw(st.floats(0, 1)) < null_share else draw(values) for _ in range(n)]
    arr = pa.array(vals, typ)
    if draw(st.booleans()) and not pa.types.is_nested(typ) and not pa.types.is_null(typ):
        arr = arr.dictionary_encode()
    return arr


@st.composite
def tables(draw):
    n = draw(st.integers(0, 12))
    width = draw(st.integers(0, 4))  # zero columns is a table too
    names = draw(st.lists(st.text(min_size=1, max_size=6), min_size=width, max_size=width, unique=True))
    table = pa.table({name: draw(columns(n)) for name in names}) if names else pa.table({"x": [0] * n}).select([])
    if n > 2 and draw(st.booleans()):  # several chunks hash like one
        cut = draw(st.integers(1, n - 1))
        table = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    return table


def _hexes(fps) -> list[str]:
    return [v.hex() for v in fps.to_pylist()]


def _through_the_reader(path: str) -> list[str] | None:
    """Fingerprints as a snapshot computes them from ``path``, or None for a LineageError."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            meta = compute_file(path, detect(path), {}, display=os.path.basename(path), tmpdir=tmp)
        except LineageError as exc:  # anything else is a crash and fails the test
            assert str(exc) and "\n" not in str(exc)
            return None
        try:
            return _hexes(pq.read_table(meta.fingerprints_path).column("fp").combine_chunks())
        finally:
            os.unlink(meta.fingerprints_path)


def _value_types(schema: pa.Schema) -> list[pa.DataType]:
    return [f.type.value_type if pa.types.is_dictionary(f.type) else f.type for f in schema]


def _decoded(table: pa.Table) -> pa.Table:
    cols = [c.combine_chunks() for c in table.columns]
    cols = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in cols]
    return pa.table(cols, names=table.column_names) if cols else table


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_odd_types_fingerprint_stably_or_refuse_clearly(table, tmp_path_factory):
    first = _hexes(fingerprint_table(table))
    assert first == _hexes(fingerprint_table(table)), "not the same value twice"
    assert len(first) == table.num_rows
    assert _hexes(fingerprint_table(_decoded(table))) == first, "dictionary or chunks changed it"
    if table.num_columns:
        reordered = table.select(list(reversed(table.column_names)))
        assert _hexes(fingerprint_table(reordered)) == first, "column order changed it"

    tmp = tmp_path_factory.mktemp("odd")
    # Parquet: where the types survive (a dictionary of durations comes back as int64),
    # the reader must give the same fingerprints
    pq.write_table(table, tmp / "t.parquet")
    got = _through_the_reader(str(tmp / "t.parquet"))
    if table.num_columns and _value_types(pq.read_schema(tmp / "t.parquet")) == _value_types(table.schema):
        assert got == first, "Parquet round trip changed the fingerprints"
    # Arrow IPC keeps everything, dictionaries included
    with pa.OSFile(str(tmp / "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    got = _through_the_reader(str(tmp / "t.arrow"))
    if table.num_columns and table.num_rows:
        assert got == first, "Arrow IPC round trip changed the fingerprints"


FLAT_CSV = st.sampled_from([
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (pa.float64(), st.floats(allow_nan=False, allow_infinity=True)),
    (pa.bool_(), st.booleans()),
    (pa.string(), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)),
    (pa.timestamp("s", "UTC"), INSTANTS.map(lambda d: d.replace(microsecond=0))),
])


@given(data=st.data())
def test_csv_round_trip_keeps_fingerprints_where_types_survive(data, tmp_path_factory):
    n = data.draw(st.integers(1, 10))
    cols = {}
    for i in range(data.draw(st.integers(1, 3))):
        typ, values = data.draw(FLAT_CSV)
        cols[f"c{i}"] = pa.array([None if data.draw(st.booleans()) and typ != pa.string() else data.draw(values)
                                  for _ in range(n)], typ)
    table = pa.table(cols)
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    pcsv.write_csv(table, path)
    back = pcsv.read_csv(path)
    # text "0" reads back as a number, an integral float as an int: another table
    survived = back.schema.types == table.schema.types and back.equals(table)
    got = _through_the_reader(str(path))
    if survived:
        assert got == _hexes(fingerprint_table(table))


def test_nan_negative_zero_and_huge_ints_agree_across_formats(tmp_path):
    table = pa.table({
        "f": pa.array([math.nan, -0.0, 0.0, math.inf, None], pa.float64()),
        "i": pa.array([2**63 - 1, -(2**63), 0, None, 1], pa.int64()),
        "u": pa.array([2**64 - 1, 0, 2**53 + 1, None, 7], pa.uint64()),
    })
    want = _hexes(fingerprint_table(table))
    floats = _hexes(fingerprint_table(table.select(["f"])))
    assert floats[1] == floats[2]  # -0.0 is 0.0
    assert floats[0] == _hexes(fingerprint_table(pa.table({"f": pa.array([-math.nan])})))[0]
    pq.write_table(table, tmp_path / "t.parquet")
    assert _through_the_reader(str(tmp_path / "t.parquet")) == want
    # CSV: a "nan" cell reads as null (pyarrow's default null spellings), so NaN stays out
    flat = table.drop_columns(["u"]).slice(1)
    pcsv.write_csv(flat, tmp_path / "t.csv")
    assert _through_the_reader(str(tmp_path / "t.csv")) == _hexes(fingerprint_table(flat))


def test_time_of_day_columns_fingerprint(tmp_path):
    """time32 crashed ("Unsupported cast from time32[ms] to int64"); it equals time64."""
    t32 = pa.table({"t": pa.array([dt.time(1, 2, 3, 4000), None], pa.time32("ms"))})
    t64 = pa.table({"t": pa.array([dt.time(1, 2, 3, 4000), None], pa.time64("ns"))})
    assert _hexes(fingerprint_table(t32)) == _hexes(fingerprint_table(t64))
    pq.write_table(t32, tmp_path / "t.parquet")
    assert _through_the_reader(str(tmp_path / "t.parquet")) == _hexes(fingerprint_table(t32))


@pytest.mark.parametrize("typ, value", [
    (pa.month_day_nano_interval(), pa.MonthDayNano([1, 2, 3])),
    (pa.decimal128(38, 10), decimal.Decimal("1234567890123456789012345678.0123456789")),
])
def test_types_outside_parquet_still_fingerprint(tmp_path, typ, value):
    table = pa.table({"v": pa.array([value, None], typ)})
    assert _hexes(fingerprint_table(table)) == _hexes(fingerprint_table(table))
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    assert _through_the_reader(str(tmp_path / "t.arrow")) == _hexes(fingerprint_table(table))


def test_zero_column_and_empty_files_are_clear(tmp_path):
    pq.write_table(pa.table({"x": [1, 2, 3]}).select([]), tmp_path / "nocols.parquet")
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), tmp_path / "norows.parquet")
    (tmp_path / "empty.csv").write_bytes(b"")
    for name in ("nocols.parquet", "norows.parquet", "empty.csv"):
        _through_the_reader(str(tmp_path / name))  # a value or a LineageError, never a crash
