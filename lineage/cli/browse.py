"""``lineage browse``: the lineage database, read-only, in Datasette (docs/browse.md)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo


def register(app: typer.Typer) -> None:
    @app.command()
    def browse(
        port: Optional[int] = typer.Option(
            None, "--port", help="Port to serve on (default: 8001, or a free one when 8001 is taken).",
            show_default=False),
        host: str = typer.Option(
            "127.0.0.1", "--host",
            help="Address to listen on. Loopback by default; any other address lets other machines read the graph."),
        open_browser: Optional[bool] = typer.Option(
            None, "--open/--no-open", show_default=False,
            help="Open a web browser on the page (default: when run on a terminal)."),
    ) -> None:
        """Browse the lineage database read-only in Datasette: tables, views, canned
        auditor queries, CSV and JSON export. Ctrl-C stops it."""
        from lineage.interop import browse as b

        if open_browser is None:
            open_browser = sys.stdin.isatty() and sys.stdout.isatty()
        with open_repo() as repo:
            browser = b.prepare(repo, host=host, port=port, open_browser=open_browser,
                                report_renderer=b.REPORT_RENDERER)
        if not browser.loopback:
            out.warning(f"serving on {host}, not loopback: anyone who can reach it can read the "
                        "lineage graph (runs, users, commands, paths)")
        out.print(f"Serving the lineage database read-only at {browser.url}  (Ctrl-C stops it)")
        sys.stdout.flush()
        code = b.serve(browser)
        if code != 0:
            out.error(f"Datasette exited with code {code}")
            raise typer.Exit(2)
