"""Renderers of tabular views: ``show --schema``, ``show --profile`` and ``diff --rows``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lineage.cli import output as out


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def render_schema(d: Any) -> None:
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


def render_profile(d: Any) -> None:
    render_schema(d)
    for f in d.files:
        if not f.profile:
            continue
        out.print(f"\n[bold]{out.escape(f.path)}[/]")
        t = out.table("column", "kind", "count", "nulls", "distinct", "min", "mean", "std", "max", "top values",
                      wrap=("top values",))
        for name, p in f.profile.items():
            top = ", ".join(f"{out.escape(str(k))} ({v})" for k, v in (p.get("top") or [])[:5])
            t.add_row(out.escape(name), p["kind"], str(p["count"]), str(p["nulls"]),
                      ("" if p.get("distinct_exact") else "~") + str(p.get("distinct", "")),
                      _num(p.get("min")), _num(p.get("mean")), _num(p.get("std")), _num(p.get("max")), top)
        out.print(t)


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
