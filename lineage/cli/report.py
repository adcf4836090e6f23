"""``lineage report``: the hand-over report of a run, a model file or a test set, as one
self-contained HTML file or as Markdown (docs/report.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        target: Optional[str] = typer.Argument(None, metavar="[RUN_ID|PATH]",
                                               help="A run (ID or prefix), or a model/output file."),
        test_set: Optional[str] = typer.Option(None, "--test-set", metavar="PATH",
                                               help="Report on every run that scored on this content."),
        fmt: str = typer.Option("html", "--format", "-F", help="html or md."),
        output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                             help="Write to FILE ('-': stdout; html needs a file)."),
    ) -> None:
        """A self-contained report for review: lineage report RUN -o report.html"""
        from lineage import report as _report
        from lineage.errors import UsageError

        if (target is None) == (test_set is None):
            raise UsageError("give RUN_ID|PATH or --test-set PATH (exactly one of them)")
        if fmt not in _report.FORMATS:
            raise UsageError(f"unknown format {fmt!r}; use html or md")
        if fmt == "html" and output is None:
            raise UsageError("an HTML report goes to a file: give -o FILE (or -o - for stdout)")
        with open_repo() as repo:
            text = _report.render(repo, ("test-set", test_set) if test_set is not None else target, fmt)
        if output is None or output == "-":
            sys.stdout.write(text)
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        out.note(f"report written to {output}")
