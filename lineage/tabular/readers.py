"""Streaming readers for tabular files: record batches of bounded size, whatever the file size.

Formats are recognised by file name: Parquet, CSV/TSV, JSON Lines, Arrow IPC/Feather,
and CSV/TSV/JSON Lines compressed with gzip or zstd. A file that cannot be read raises
``TabularReadError`` with a one-line reason naming the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lineage.errors import TabularReadError, TypesChanged
from lineage.tabular.limits import DecompressionGuard, Limits, human

__all__ = ["BatchReader", "Format", "TabularReadError", "TypesChanged", "detect", "is_tabular"]

BATCH_ROWS = 65_536
#: Bytes a Parquet column chunk is read through (its pages streamed, not the chunk read whole).
READ_BUFFER = 1 << 20
BLOCK_BYTES = 8 << 20
#: A CSV/JSON line must fit in one read block; a longer one is retried once with this
#: block size (a few blocks are held in memory, so it is not unbounded).
MAX_BLOCK_BYTES = 64 << 20

_FORMATS = {
    ".parquet": "parquet", ".pq": "parquet", ".parq": "parquet",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
}
_COMPRESSED = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}


@dataclass(frozen=True)
class Format:
    kind: str                 # parquet | csv | tsv | jsonl | arrow
    compression: str | None   # gzip | zstd | None

    @property
    def name(self) -> str:
        return self.kind + (f"+{self.compression}" if self.compression else "")


#: Every name ending a tabular file can have: one C-level ``endswith`` rules out the rest.
_SUFFIXES = tuple(_FORMATS) + tuple(_COMPRESSED)


def detect(path: str) -> Format | None:
    """The tabular format of ``path`` from its name, or None for a non-tabular file."""
    lower = path.lower()
    if not lower.endswith(_SUFFIXES):
        return None
    compression = None
    for ext, comp in _COMPRESSED.items():
        if lower.endswith(ext):
            compression = comp
            lower = lower[: -len(ext)]
            break
    for ext, kind in _FORMATS.items():
        if lower.endswith(ext):
            if compression and kind in ("parquet", "arrow"):
                return None  # a compressed Parquet/Arrow file is just bytes to us
            return Format(kind, compression)
    return None


def is_tabular(path: str) -> bool:
    """Whether ``path`` is read as a table (by its name: .parquet, .csv, .tsv, .jsonl, .arrow, ...)."""
    return detect(path) is not None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


class BatchReader:
    """Iterate the record batches of one file; ``notes`` collects non-fatal remarks.

    CSV and JSON Lines types are inferred from the first block. When a later block
    disagrees, ``TypesChanged`` carries the widened column types and the caller reads
    the file again: int to float (same numbers, same fingerprints), anything else to
    text (with a note in ``notes``).
    """

    def __init__(self, path: str, fmt: Format, display: str | None = None,
                 on_bytes: Callable[[int], None] | None = None,
                 overrides: dict[str, Any] | None = None, limits: Any = None,
                 block_bytes: int | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.limits = limits          # Limits, or None for no limits
        self.block_bytes = block_bytes or BLOCK_BYTES
        self._guard: Any = None       # DecompressionGuard of a compressed text file
        self._seen = 0                # bytes handed to the parser so far
        self.path = path
        self.fmt = fmt
        self.display = display or path
        self.notes: list[str] = []
        self.on_bytes = on_bytes
        self.schema = None

    def fail(self, reason: str) -> TabularReadError:
        return TabularReadError(f"{self.display}: {reason}")

    def __iter__(self) -> Iterator[Any]:
        if os.path.getsize(self.path) == 0:
            raise self.fail("the file is empty")
        kind = self.fmt.kind
        if kind == "parquet":
            yield from self._parquet()
        elif kind == "arrow":
            yield from self._arrow()
        else:
            yield from self._text()

    # -- binary formats ---------------------------------------------------------
    def _parquet(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            # pre_buffer off: with it, pyarrow keeps every column chunk it has read until the
            # file is closed, so memory would grow with the file instead of the batch; and
            # column chunks streamed through a small buffer rather than read whole, so memory
            # follows the batch size rather than the writer's row group size
            pf = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=READ_BUFFER)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise self.fail(f"not a readable Parquet file ({_short(exc)})") from None
        self.schema = pf.schema_arrow
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                yield batch
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise self.fail(f"corrupt Parquet data ({_short(exc)})") from None

    def _arrow(self) -> Iterator[Any]:
        import pyarrow as pa

        try:
            source = pa.memory_map(self.path, "r")
        except (pa.ArrowException, OSError) as exc:
            raise self.fail(f"cannot open ({_short(exc)})") from None
        try:
            try:
                reader = pa.ipc.open_file(source)
                self.schema = reader.schema
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
                return
            except pa.ArrowInvalid:
                source.seek(0)
            try:
                stream = pa.ipc.open_stream(source)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise self.fail(f"not a readable Arrow IPC/Feather file ({_short(exc)})") from None
            self.schema = stream.schema
            try:
                for batch in stream:
                    yield batch
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise self.fail(f"corrupt Arrow data ({_short(exc)})") from None
        finally:
            source.close()

    # -- text formats -------------------------------------------------------------
    def _open_stream(self):
        import pyarrow as pa

        raw = open(self.path, "rb")
        self._seen = 0
        if not self.fmt.compression:
            return pa.PythonFile(_Counting(raw, self.on_bytes, self._saw), mode="r")
        # decompressed bytes are counted as the parser pulls them: a bomb is stopped
        # within one block of crossing a limit, not after it has expanded
        inner = pa.CompressedInputStream(pa.PythonFile(_Counting(raw, self.on_bytes), mode="r"),
                                         self.fmt.compression)
        self._guard = DecompressionGuard(inner, os.path.getsize(self.path),
                                         self.limits or Limits(), self.display)
        return pa.PythonFile(_Counting(self._guard, None, self._saw), mode="r")

    def _saw(self, n: int) -> None:
        self._seen += n

    def _text(self) -> Iterator[Any]:
        import pyarrow as pa

        emitted = 0
        try:
            for batch in self._text_once(self.overrides):
                if emitted == 0:
                    self.schema = batch.schema
                emitted += 1
                yield batch
        except (pa.ArrowException, OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
            if self._guard is not None and self._guard.exceeded is not None:
                raise self._guard.exceeded from None
            msg = _short(exc)
            if "straddl" in msg or ("empty" in msg.lower() and emitted == 0
                                    and self._seen >= self.block_bytes):
                # one line does not fit in a read block (pyarrow calls a first block
                # without a line end "empty"): read again with bigger blocks, once
                if self.block_bytes < MAX_BLOCK_BYTES:
                    raise TypesChanged(self.overrides, block_bytes=MAX_BLOCK_BYTES) from None
                what = "JSON Lines record" if self.fmt.kind == "jsonl" else f"{self.fmt.kind.upper()} line"
                raise self.fail(f"a single {what} is longer than the reader's block size of "
                                f"{human(self.block_bytes)}; its rows are not fingerprinted") from None
            if self.schema is not None:
                m = re.search(r"In CSV column #(\d+): .*CSV conversion error to (\w+)", msg)
                if m:
                    raise TypesChanged(self._widen(int(m.group(1)), self.overrides)) from None
                col = self._json_mixed_column(msg) if self.fmt.kind == "jsonl" else None
                if col is not None:
                    raise TypesChanged(self._widen_json(col, self.overrides)) from None
            if "empty" in msg.lower() and emitted == 0:
                raise self.fail("the file is empty") from None
            kind = "JSON Lines" if self.fmt.kind == "jsonl" else self.fmt.kind.upper()
            raise self.fail(f"malformed {kind} ({msg})") from None

    def _widen(self, index: int, overrides: dict[str, Any]) -> dict[str, Any]:
        import pyarrow as pa

        field = self.schema.field(index)
        if pa.types.is_integer(field.type) and overrides.get(field.name) is None:
            new = pa.float64()
        else:
            new = pa.string()
            self.notes.append(f"column {field.name!r} mixes types; read as text")
        return {**overrides, field.name: new}

    def _json_mixed_column(self, msg: str) -> str | None:
        m = re.search(r"[Cc]olumn\(/([^)\]]+)\)", msg)
        return m.group(1) if m else None

    def _widen_json(self, column: str, overrides: dict[str, Any]) -> dict[str, Any]:
        import pyarrow as pa

        field = self.schema.field(column) if column in self.schema.names else None
        if field is not None and pa.types.is_integer(field.type) and column not in overrides:
            return {**overrides, column: pa.float64()}
        self.notes.append(f"column {column!r} mixes types; read as text")
        return {**overrides, column: pa.string()}

    def _text_once(self, overrides: dict[str, Any]) -> Iterator[Any]:
        import pyarrow as pa

        stream = self._open_stream()
        try:
            if self.fmt.kind in ("csv", "tsv"):
                import pyarrow.csv as pcsv

                reader = pcsv.open_csv(
                    stream,
                    read_options=pcsv.ReadOptions(block_size=self.block_bytes),
                    parse_options=pcsv.ParseOptions(delimiter="\t" if self.fmt.kind == "tsv" else ","),
                    convert_options=pcsv.ConvertOptions(column_types=overrides or None),
                )
            else:
                import pyarrow.json as pj

                schema = None
                if overrides:
                    schema = pa.schema([pa.field(f.name, overrides.get(f.name, f.type))
                                        for f in self.schema])
                reader = pj.open_json(
                    stream,
                    read_options=pj.ReadOptions(block_size=self.block_bytes),
                    parse_options=pj.ParseOptions(explicit_schema=schema,
                                                  unexpected_field_behavior="infer"),
                )
            if self.schema is None:
                self.schema = reader.schema  # a header-only file has columns but no batches
            for batch in reader:
                if batch.num_rows > BATCH_ROWS:
                    for start in range(0, batch.num_rows, BATCH_ROWS):
                        yield batch.slice(start, BATCH_ROWS)
                else:
                    yield batch
        finally:
            stream.close()


class _Counting:
    """A file wrapper that reports bytes read (for progress, and to the reader)."""

    def __init__(self, raw: Any, on_bytes: Callable[[int], None] | None,
                 also: Callable[[int], None] | None = None) -> None:
        self.raw, self.on_bytes, self.also = raw, on_bytes, also
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            if self.on_bytes:
                self.on_bytes(len(data))
            if self.also:
                self.also(len(data))
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)
