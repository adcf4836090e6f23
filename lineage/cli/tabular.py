"""Renderers of tabular views: ``show --schema``, ``show --profile`` and ``diff --rows``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lineage.cli import output as out


def _num(x: Any, kind: str = "numeric", stat: str = "") -> str:
    """A profile value: numbers to 6 digits; a temporal column's times as ISO times (UTC)
    and its spread (``std``) as a duration."""
    if x is None:
        return "-"
    if kind == "temporal" and isinstance(x, (int, float)):
        from datetime import datetime, timedelta, timezone

        try:
            if stat == "std":
                return str(timedelta(seconds=round(x / 1e6))).replace(", ", " ")
            t = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=round(x))
        except OverflowError:
            return f"{x:.6g}"
        return t.strftime("%Y-%m-%dT%H:%M:%S" if t.microsecond == 0 else "%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def render_schema(d: Any, fmt: str = "table") -> None:
    """``show --schema``: on a terminal, each file and its columns; TSV and CSV, one row per column."""
    if fmt != "table":
        cols = [out.Col(c) for c in ("file", "format", "rows", "column", "type", "kind")]
        rows = [[f.path, f.format, f.rows, c["name"], c["type"], c["kind"]] for f in d.files for c in f.columns]
        out.listing(d, cols, rows, fmt)
        return
    decl = ", ".join(f"{k}={v}" for k, v in sorted(d.declarations.items())) or "none"
    out.print(f"[bold]snapshot {d.id}[/]: {len(d.files)} tabular file(s), {d.rows} rows "
              f"(fingerprints {d.scheme}; declared columns: {out.escape(decl)})")
    if not d.files:
        out.print("No tabular files (Parquet, CSV/TSV, JSON Lines, Arrow/Feather) in this snapshot.")
    for f in d.files:
        if f.status != "ok":
            out.print(f"  [yellow]{out.escape(f.path)}[/] ({f.format}): {f.status}: {out.escape(f.error or '')}")
            continue
        out.print(f"  [bold]{out.escape(f.path)}[/] ({f.format}, {f.rows} rows, {len(f.columns)} columns)")
        for c in f.columns:
            out.print(f"    {out.escape(c['name']):30} {out.escape(c['type']):24} {c['kind']}")
        for n in f.notes:
            out.print(f"    [yellow]note:[/] {out.escape(n)}")


_STATS = ("min", "mean", "std", "max")


def render_profile(d: Any, fmt: str = "table") -> None:
    """``show --profile``: a table per file, as wide as the terminal (columns that do not
    fit are left out, the top values wrap); TSV and CSV, one row per file and column."""
    cols = [out.Col("file", where="plain"), out.Col("column"), out.Col("kind", "fixed", keep=6),
            out.Col("count", "fixed", keep=2, justify="right"), out.Col("nulls", "fixed", keep=5, justify="right"),
            out.Col("distinct", "fixed", keep=4, justify="right"), out.Col("min", "fixed", keep=7),
            out.Col("mean", "fixed", keep=3), out.Col("std", "fixed", keep=1), out.Col("max", "fixed", keep=7),
            out.Col("top values", keep=8)]

    def rows_of(f: Any) -> list[list[Any]]:
        rows = []
        for name, p in (f.profile or {}).items():
            top = ", ".join(f"{k} ({v})" for k, v in (p.get("top") or [])[:5])
            rows.append([f.path, name, p["kind"], p["count"], p["nulls"],
                         ("" if p.get("distinct_exact") else "~") + str(p.get("distinct", "")),
                         *(_num(p.get(k), p["kind"], k) for k in _STATS), top])
        return rows

    if fmt != "table":
        out.listing(d, cols, [r for f in d.files for r in rows_of(f)], fmt)
        return
    render_schema(d)
    for f in d.files:
        if not f.profile:
            continue
        out.print(f"\n[bold]{out.escape(f.path)}[/]")
        out.print_table(cols, rows_of(f))


def render_row_diff(render_files: Callable[[Any], None]) -> Callable[[Any], None]:
    def render(d: Any) -> None:
        render_files(d.files)
        r = d.rows
        out.print(f"rows: {r.rows_a} -> {r.rows_b}: [green]{r.added} added[/], [red]{r.removed} removed[/], "
                  f"{r.unchanged} unchanged")
        for s in r.sample_added:
            out.print(f"  [green]+ {out.escape(s['file'])} row {s['row']}[/]")
        for s in r.sample_removed:
            out.print(f"  [red]- {out.escape(s['file'])} row {s['row']}[/]")

    return render
