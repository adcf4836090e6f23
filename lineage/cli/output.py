"""Rendering of command results: JSON on stdout, rich tables, errors and progress on stderr."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lineage.core.progress import Progress as ProgressCallback
from lineage.core.progress import TransferProgress

_console = None
_console_env: tuple[str | None, ...] | None = None
_err_console = None

# environment variables that rich reads once, when a console is made
_CONSOLE_ENV = ("COLUMNS", "LINES", "TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR")


def console():
    """The stdout console: a terminal's own width, or ``COLUMNS`` when set (piped too).
    ``TTY_COMPATIBLE=1`` treats stdout as a terminal, ``TTY_COMPATIBLE=0`` as a pipe. On a
    terminal long lines wrap at word boundaries (an ID is one word: it is not split while
    it fits the width); piped, a line is never wrapped."""
    global _console, _console_env
    env = tuple(os.environ.get(k) for k in _CONSOLE_ENV)
    if _console is None or env != _console_env:
        from rich.console import Console

        _console, _console_env = Console(highlight=False, soft_wrap=True), env
        _console.soft_wrap = not _console.is_terminal  # a terminal wraps lines at words; a pipe never
    return _console


def set_console(c: Any) -> None:
    """Use ``c`` (a rich Console) for stdout until the next call; ``None``: the default."""
    global _console, _console_env
    _console = c
    if c is not None:
        c.soft_wrap = not c.is_terminal
    _console_env = None if c is None else tuple(os.environ.get(k) for k in _CONSOLE_ENV)


def _made_console() -> Any:
    """The stdout console already made (or set) for the current environment, else None."""
    if _console is not None and tuple(os.environ.get(k) for k in _CONSOLE_ENV) == _console_env:
        return _console
    return None


def is_terminal() -> bool:
    """Whether stdout is a terminal (people) rather than a pipe or a file (programs)."""
    if _made_console() is not None or "IPython" in sys.modules or "idlelib" in sys.modules:
        return bool(console().is_terminal)
    return _stdout_is_terminal()


def _stdout_is_terminal() -> bool:
    """What rich's ``Console.is_terminal`` answers for stdout, without making one (rich
    costs more to import than the rest of a ``lineage status``): ``TTY_COMPATIBLE`` 0 or
    1, else ``FORCE_COLOR`` set and not empty, else whether stdout is a tty."""
    tty = os.environ.get("TTY_COMPATIBLE", "")
    if tty in ("0", "1"):
        return tty == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    isatty = getattr(getattr(sys.stdout, "rich_proxied_file", sys.stdout), "isatty", None)
    try:
        return False if isatty is None else bool(isatty())
    except ValueError:  # a closed stream
        return False


def width() -> int:
    return int(console().width)


def err_console():
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def plain(value: Any) -> Any:
    """Turn dataclasses (anything with ``to_dict``), lists and dicts into JSON-ready data."""
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def emit(value: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``value`` as JSON, or through ``render`` for people."""
    if as_json:
        emit_json(value)
    else:
        render(value)


def print(*args: Any, **kwargs: Any) -> None:  # noqa: A001 - the one place that prints
    """Print to stdout through rich; piped, text that rich would print unchanged but for
    its markup is written directly (the same characters, without importing rich)."""
    if _made_console() is None and sys.stdout is not None and not is_terminal():
        text = _plain(args, **kwargs)
        if text is not None:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()  # as rich does: lines keep their order with stderr's
            return
    console().print(*args, **kwargs)


# rich's markup: a tag ``[style]``, ``[/style]`` or ``[/]``, escaped by a backslash
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_STYLE_TAG = re.compile(r"/?([a-z][a-z0-9_. ]*)?")
# what rich would change or might: control characters (tabs expanded, others removed)
# and ``:name:`` (an emoji code when ``name`` is one)
_NOT_PLAIN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]|:\S*?:")


def _plain(args: tuple[Any, ...], markup: bool = True, **other: Any) -> str | None:
    """``args`` as rich prints them to a pipe, or None when rich must print them (not all
    text, other options, or markup beyond plain style tags)."""
    if other or not all(isinstance(a, str) for a in args):
        return None
    parts = [_strip_markup(a) if markup else a for a in args]
    if any(p is None or _NOT_PLAIN.search(p) for p in parts):
        return None
    return " ".join(parts)  # type: ignore[arg-type]


def _strip_markup(markup: str) -> str | None:
    """The text of ``markup`` without its style tags, as rich renders it; None for any
    tag other than a style (links, ``@`` handlers, ``=`` parameters) or a closing tag
    that closes nothing open."""
    if "[" not in markup:
        return markup
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        full, escapes, tag = match.groups()
        start, end = match.span()
        out.append(markup[position:start].replace("\\[", "["))
        position = end
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            out.append("\\" * backslashes)
            if escaped:
                out.append(full[len(escapes):])
                continue
        if not _STYLE_TAG.fullmatch(tag):
            return None
        if not tag.startswith("/"):
            open_tags.append(tag)
            continue
        name = tag[1:].strip()
        if not name and open_tags:
            open_tags.pop()
        elif name and name in open_tags:
            del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name)]
        else:
            return None  # rich reports the error
    out.append(markup[position:].replace("\\[", "["))
    return "".join(out)


def note(message: str) -> None:
    """A diagnostic for people, on stderr."""
    err_console().print(message)


def error(message: str) -> None:
    err_console().print(f"[bold red]error:[/] {escape(message)}")


def warning(message: str) -> None:
    err_console().print(f"[yellow]warning:[/] {escape(message)}")


_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape(text: str) -> str:
    """``text`` in rich markup, printed as it is (as ``rich.markup.escape``: a backslash
    before each ``[`` that would open a tag)."""
    text = _ESCAPE.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", text)
    if text.endswith("\\") and not text.endswith("\\\\"):
        return text + "\\"
    return text


def short(digest: str | None, n: int = 12) -> str:
    return (digest or "")[:n]


def person(user: str | None) -> str:
    """The name part of ``Name <email>``, for narrow tables."""
    return (user or "").split(" <")[0]


def human_size(n: int | float) -> str:
    """Bytes in binary units (``1.5 MiB``): see :mod:`lineage.core.units`."""
    from lineage.core.units import format_size

    return format_size(n)


# -- listings: table on a terminal, TSV when piped, CSV, JSON ----------------------------

#: the values of ``--format`` for listings
FORMATS = ("table", "tsv", "csv", "json")
FORMAT_HELP = "table, tsv, csv or json (default: table on a terminal, tsv when piped)."
#: IDs shortened on a terminal keep at least this many characters (as git does)
MIN_ID = 7


def format_option() -> Any:
    import typer

    return typer.Option(None, "--format", "-F", metavar="FORMAT", help=FORMAT_HELP)


def resolve_format(fmt: str | None, as_json: bool = False, *, csv: bool = False,
                   allowed: tuple[str, ...] = FORMATS, piped: str = "tsv") -> str:
    """The output format: ``--json`` and ``--csv`` are synonyms of ``--format json|csv``;
    without any, ``table`` on a terminal and ``piped`` when stdout is not one (``tsv`` for
    a listing; ``table`` for a report such as ``show``, printed plain: see print_table)."""
    from lineage.errors import UsageError

    chosen = {f for f, on in (("json", as_json), ("csv", csv)) if on}
    if fmt is not None:
        fmt = fmt.lower()
        chosen.add(fmt)
    if len(chosen) > 1:
        raise UsageError(f"conflicting output formats: {', '.join(sorted(chosen))}; give one")
    if chosen:
        fmt = chosen.pop()
    elif is_terminal():
        fmt = "table"
    else:
        fmt = piped
    if fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; use {', '.join(allowed[:-1])} or {allowed[-1]}")
    return fmt


@dataclass(frozen=True)
class Col:
    """A listing column. ``kind``: ``id`` (a full ID, shortened git-style on a terminal and
    never wrapped), ``fixed`` (short values, never wrapped) or ``text`` (wrapped on a
    terminal, never cut). ``keep``: on a narrow terminal, the columns with the lowest
    ``keep`` are left out first; 9 is never left out. ``where``: ``both``, ``table`` (a
    terminal only) or ``plain`` (TSV and CSV only)."""

    name: str
    kind: str = "text"
    keep: int = 9
    where: str = "both"
    justify: str = "left"
    colours: dict[str, str] | None = None
    #: the header on a terminal, when shorter than the TSV and CSV ``name``
    title: str | None = None
    #: a text column's narrowest width on a terminal (else 10, or its longest word up to 24)
    min: int = 0


def shorten_ids(ids: list[str], minimum: int = MIN_ID) -> int:
    """The shortest prefix length (at least ``minimum``) that tells the given IDs apart."""
    distinct = {i for i in ids if i}
    n = minimum
    longest = max((len(i) for i in distinct), default=0)
    while n < longest and len({i[:n] for i in distinct}) < len(distinct):
        n += 1
    return n


def cell_text(value: Any) -> str:
    """A cell's plain text: None is empty, floats keep their digits, bools are yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def write_delimited(columns: list[str], rows: list[list[Any]], sep: str) -> None:
    """TSV (``sep`` a tab: one line per row, tabs and line breaks in a cell become spaces)
    or CSV (RFC 4180 quoting), with a header line; nothing shortened."""
    import csv as _csv

    if sep == "\t":
        clean = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(cell_text(v).translate(clean) for v in row) + "\n")
    else:
        w = _csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows([cell_text(v) for v in row] for row in rows)
    sys.stdout.flush()


def listing(value: Any, columns: list[Col], rows: list[list[Any]], fmt: str, *,
            empty: str | None = None, records: bool = True) -> None:
    """Print a listing in ``fmt``: ``json`` prints ``value`` (the command's JSON document);
    ``tsv`` and ``csv`` the rows with a header; ``table`` a table that fits the terminal,
    or one block per row when even its narrowest form does not (``records``)."""
    if fmt == "json":
        emit_json(value)
        return
    if fmt in ("tsv", "csv"):
        keep = [i for i, c in enumerate(columns) if c.where != "table"]
        write_delimited([columns[i].name for i in keep], [[r[i] for i in keep] for r in rows],
                        "\t" if fmt == "tsv" else ",")
        return
    if not rows and empty is not None:
        print(empty, markup=False)
        return
    print_table(columns, rows, records=records)


def _display(columns: list[Col], rows: list[list[Any]], short: bool = True) -> list[list[str]]:
    """Cells as shown on a terminal: IDs cut to the shortest unique prefix of their column."""
    shown = [[cell_text(v) for v in r] for r in rows]
    for i, c in enumerate(columns):
        if not short:
            break
        if c.kind == "id":
            n = shorten_ids([r[i] for r in shown])
            for r in shown:
                r[i] = r[i][:n]
    return shown


def _minimum(c: Col, cells: list[str]) -> int:
    longest = max([len(c.title or c.name), *(len(x) for x in cells)])
    if c.kind == "text":
        words = max([len(c.title or c.name), *(len(w) for x in cells for w in x.split())])
        return min(longest, max(10, c.min, min(words, 24)))
    return longest


#: columns of a terminal table are this many characters apart
GAP = 3


def _widths(cols: list[tuple[int, Col]], mins: dict[int, int], natural: dict[int, int], limit: int) -> dict[int, int]:
    """Widths that fit ``limit``: IDs and fixed columns at their width, text columns at
    least at their minimum, the rest of the line shared out to the text that needs it."""
    widths = {i: (natural[i] if c.kind != "text" else mins[i]) for i, c in cols}
    spare = limit - sum(widths.values()) - GAP * (len(cols) - 1)
    text = [i for i, c in cols if c.kind == "text"]
    while spare > 0:
        want = [i for i in text if widths[i] < natural[i]]
        if not want:
            break
        share = max(1, spare // len(want))
        for i in sorted(want, key=lambda i: natural[i] - widths[i]):
            add = min(share, natural[i] - widths[i], spare)
            widths[i] += add
            spare -= add
    return widths


def print_table(columns: list[Col], rows: list[list[Any]], *, records: bool = True) -> None:
    """A table as wide as the terminal at most: IDs and fixed cells whole on one line,
    text wrapped; columns with a low ``keep`` are left out while it does not fit. When
    stdout is not a terminal (a report such as ``show``, piped): aligned plain columns,
    every column, full IDs, nothing wrapped, no box characters."""
    from rich import box
    from rich.table import Table

    cols = [(i, c) for i, c in enumerate(columns) if c.where != "plain"]
    if not is_terminal():
        shown = [[v.replace("\n", " ") for v in r] for r in _display(columns, rows, short=False)]
        widths = {i: max([len(c.title or c.name), *(len(r[i]) for r in shown)]) for i, c in cols}
        for line in ([c.title or c.name for _, c in cols], *([r[i] for i, _ in cols] for r in shown)):
            text = "  ".join(v.rjust(widths[i]) if c.justify == "right" else v.ljust(widths[i])
                             for v, (i, c) in zip(line, cols))
            sys.stdout.write(text.rstrip() + "\n")
        sys.stdout.flush()
        return
    shown = _display(columns, rows)
    mins = {i: _minimum(c, [r[i] for r in shown]) for i, c in cols}
    natural = {i: max([len(c.title or c.name), *(len(r[i]) for r in shown)]) for i, c in cols}
    limit = width()

    def needed() -> int:
        return sum(mins[i] for i, _ in cols) + GAP * (len(cols) - 1)

    while needed() > limit and any(c.keep < 9 for _, c in cols):
        low = min(c.keep for _, c in cols)
        drop = [j for j, (_, c) in enumerate(cols) if c.keep == low][-1]
        cols.pop(drop)
    if needed() > limit and records:
        print_records([c for _, c in cols], [[r[i] for i, _ in cols] for r in shown])
        return
    widths = _widths(cols, mins, natural, limit)
    t = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD, header_style="bold")
    for i, c in cols:
        t.add_column(c.title or c.name, width=widths[i], no_wrap=c.kind != "text",
                     overflow="fold", justify=c.justify)  # type: ignore[arg-type]
    for r in shown:
        cells = []
        for i, c in cols:
            text = escape(r[i])
            colour = (c.colours or {}).get(r[i])
            cells.append(f"[{colour}]{text}[/]" if colour and text else text)
        t.add_row(*cells)
    print(t)


def print_records(columns: list[Col], shown: list[list[str]]) -> None:
    """One block per row, ``name  value`` per line: for rows too wide for the terminal."""
    from rich.table import Table

    names = max((len(c.title or c.name) for c in columns), default=0)
    for n, r in enumerate(shown):
        if n:
            print("")
        g = Table.grid(padding=(0, 2))
        g.add_column(no_wrap=True, width=names, style="bold")
        g.add_column(overflow="fold")
        for c, v in zip(columns, r):
            g.add_row(escape(c.title or c.name), escape(v))
        print(g)


class PlainTree:
    """A tree for a pipe: two spaces of indent per level, no guide characters, no markup,
    lines never cut (``tree``)."""

    def __init__(self, label: str) -> None:
        self.label, self.children = label, []  # type: list[PlainTree]

    def add(self, label: str) -> PlainTree:
        child = PlainTree(label)
        self.children.append(child)
        return child

    def lines(self, depth: int = 0) -> Iterator[str]:
        from rich.text import Text

        yield "  " * depth + Text.from_markup(self.label).plain
        for c in self.children:
            yield from c.lines(depth + 1)


def tree(label: str) -> Any:
    """A rich Tree on a terminal; a ``PlainTree`` when piped. Print it with ``print_tree``."""
    if is_terminal():
        from rich.tree import Tree

        return Tree(label)
    return PlainTree(label)


def print_tree(t: Any) -> None:
    if isinstance(t, PlainTree):
        sys.stdout.write("".join(line + "\n" for line in t.lines()))
        sys.stdout.flush()
    else:
        print(t)


@contextmanager
def progress(label: str, *, unit: str = "bytes", delay: float = 0.4) -> Iterator[ProgressCallback]:
    """A progress callback that draws a bar on stderr once the work outlasts ``delay`` seconds."""
    start = time.monotonic()
    state: dict[str, Any] = {"bar": None, "task": None}
    interactive = sys.stderr.isatty()
    if interactive:
        from lineage.core.progress import RateWindow

        rate = RateWindow(window=5.0, min_elapsed=1.0)  # no rate from the first milliseconds

    def update(done: int, total: int) -> None:
        if not interactive:
            return
        rate.add(done)
        if state["bar"] is None:
            if time.monotonic() - start < delay:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            from lineage.cli.bars import RateColumn, RemainingColumn, SizeColumn

            cols = [TextColumn(label), BarColumn()]
            cols += ([SizeColumn(), RateColumn()] if unit == "bytes" else [MofNCompleteColumn()])
            cols.append(RemainingColumn())
            bar = Progress(*cols, console=err_console(), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total, rate=rate)
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].stop()


@contextmanager
def transfer_bar(label: str, delay: float = 0.4) -> Iterator[TransferProgress]:
    """A bar with bytes and objects, drawn on stderr when the transfer lasts."""
    start = time.monotonic()
    state: dict[str, Any] = {"bar": None}
    from lineage.core.progress import RateWindow

    rate = RateWindow(window=5.0, min_elapsed=1.0)  # no rate from the first milliseconds

    def update(done: int, total: int, objs: int, total_objs: int) -> None:
        if not sys.stderr.isatty():
            return
        rate.add(done)
        if state["bar"] is None:
            if time.monotonic() - start < delay:
                return
            from rich.progress import BarColumn, Progress, TextColumn

            from lineage.cli.bars import RateColumn, RemainingColumn, SizeColumn

            bar = Progress(TextColumn(label), BarColumn(), SizeColumn(), RateColumn(),
                           TextColumn("{task.fields[objs]}"), RemainingColumn(),
                           console=err_console(), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total, objs="", rate=rate)
        state["bar"].update(state["task"], completed=done, total=total,
                            objs=f"{objs}/{total_objs} objects")

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].stop()
