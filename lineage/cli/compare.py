"""``lineage runs``: commands over several runs at once (``runs compare``)."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo

FORMATS = out.FORMATS


def register(app: typer.Typer) -> None:
    runs_app = typer.Typer(help="Commands over several runs: compare them side by side.",
                           no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})

    @runs_app.command("compare")
    def compare(
        runs: list[str] = typer.Argument(..., metavar="RUN RUN [RUN...]",
                                         help="Two or more runs (ID, prefix or short ID)."),
        only_diff: bool = typer.Option(False, "--only-diff", help="Only the rows where the runs differ."),
        fmt: Optional[str] = out.format_option(),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """Runs side by side, one column per run: params, metrics (by split), inputs by role
        with their snapshots, outputs, code commit, status and kind; differing rows marked."""
        from lineage.runs.compare import compare_runs

        fmt = out.resolve_format(fmt, as_json)
        with open_repo() as repo:
            result = compare_runs(repo, runs, only_diff=only_diff)
        if fmt == "json":
            out.emit_json(result)
        elif fmt == "table":
            _render_table(result)
        else:
            _write_delimited(result, "\t" if fmt == "tsv" else ",")

    app.add_typer(runs_app, name="runs")


def _label(row: Any) -> str:
    if row.section == "metric":
        return f"metric {row.name}" + (f" ({row.split})" if row.split else "")
    if row.section == "input":
        return f"input {row.role} {row.name}"
    return f"{row.section} {row.name}"


def _cell(row: Any, value: Any, versions: dict[str, str], short: int) -> str:
    """A cell as text; ``short``: IDs cut to that many characters (0: whole)."""
    if value is None:
        return "-" if short else ""
    if row.section in ("input", "output"):
        ids = value if isinstance(value, list) else [value]
        if not short:
            return " ".join(ids)
        return " ".join(f"{sid[:short]}" + (f" ({versions[sid].rsplit('@', 1)[-1]})" if "@" in versions.get(sid, "")
                                            else "") for sid in ids)
    if row.name == "commit" and short:
        return value[:short]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}" if short else repr(value)
    return str(value)


def _render_table(c: Any) -> None:
    """One column per run (its short ID), IDs shortened git-style; values wrap, IDs do not."""
    ids: list[str] = []
    for row in c.rows:
        if row.section in ("input", "output") or row.name == "commit":
            for v in row.values:
                ids += [x for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)]
    n = out.shorten_ids(ids)
    cols = [out.Col("", "fixed"), out.Col("field")] + [out.Col(r["short_id"]) for r in c.runs]
    rows = [["≠" if row.differs else "", _label(row), *(_cell(row, v, c.versions, n) for v in row.values)]
            for row in c.rows]
    if rows:
        out.print_table(cols, rows)
    if not c.rows:
        out.note("The runs do not differ." if len(c.runs) else "Nothing to compare.")


def _write_delimited(c: Any, sep: str) -> None:
    import csv

    w = csv.writer(sys.stdout, delimiter=sep, lineterminator="\n",
                   quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE, escapechar="\\")
    w.writerow(["differs", "section", "name", "split", "role", *(r["run_id"] for r in c.runs)])
    for row in c.rows:
        w.writerow(["*" if row.differs else "", row.section, row.name, row.split or "", row.role or "",
                    *(_cell(row, v, c.versions, 0) for v in row.values)])
    sys.stdout.flush()
